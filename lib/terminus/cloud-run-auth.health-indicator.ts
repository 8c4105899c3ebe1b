import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { CLOUD_RUN_AUTH_INBOUND_OPTIONS } from '../inbound/inbound.constants.js';
import { JwksKeyStore } from '../inbound/keys/jwks.key-store.js';
import { SigningKeyStore } from '../inbound/keys/signing-key.store.js';
import type { ResolvedInboundOptions } from '../inbound/inbound.options.js';
import { CloudRunAuthRegistry } from '../module/cloud-run-auth.registry.js';
import { IAP_KEY_STORE } from '../module/inbound.providers.js';
import type { ResolvedServiceDefinition } from '../outbound/service-definition.options.js';
import { IdTokenCache } from '../outbound/token/id-token.cache.js';
import { waitFor } from '../shared/single-flight.js';

/** Options of {@link CloudRunAuthHealthIndicator.isHealthy}. */
export interface CloudRunAuthHealthOptions {
  /**
   * Most time a probe waits for a token, or for the signing keys, when none is cached (ms). A
   * fetch still running then goes on in the background, and the next probe joins it.
   * @default 1000
   */
  timeoutMs?: number;
}

/** The health of one authenticated service, under `services.<name>` of the result. */
export interface ServiceTokenHealth {
  status: 'up' | 'down';
  audience: string;
  /** Until when the cached token is handed out, in seconds from now (up). */
  validForSeconds?: number;
  /** Why no token could be had (down); never contains a token. */
  error?: string;
}

/**
 * The health of a set of inbound signing keys: Google's (ID tokens), under `keys` of the result
 * when `inbound.audience` is set; IAP's, under `iapKeys`, when `inbound.iap` is.
 */
export interface SigningKeysHealth {
  status: 'up' | 'down';
  /** Why no keys could be loaded (down). */
  error?: string;
}

const DEFAULT_TIMEOUT_MS = 1000;
/** A key id no key set has: asking for it loads the keys without an unknown-kid refetch. */
const PROBE_KID = '\u0000health-probe';

/**
 * A `@nestjs/terminus` health indicator: up when every authenticated service has a valid cached
 * ID token or gets one within `timeoutMs`, and, with `inbound` configured, the signing keys it
 * verifies with (Google's for ID tokens, IAP's for IAP assertions) are loaded or load within
 * `timeoutMs`; down otherwise, naming the services and the errors.
 *
 * A probe never forces a fetch while a valid token is cached: it reads the shared cache, and
 * fetches (through it, single-flight) only when nothing valid is cached. Provide it next to
 * `TerminusModule`'s import: `providers: [CloudRunAuthHealthIndicator]`.
 */
@Injectable()
export class CloudRunAuthHealthIndicator {
  /** Built by Nest's dependency injection. @internal */
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly cache: IdTokenCache,
    private readonly registry: CloudRunAuthRegistry,
    @Optional() @Inject(SigningKeyStore) private readonly keyStore: SigningKeyStore | null,
    @Optional() @Inject(CLOUD_RUN_AUTH_INBOUND_OPTIONS) private readonly inbound: ResolvedInboundOptions | null,
    @Optional() @Inject(IAP_KEY_STORE) private readonly iapKeyStore: JwksKeyStore | null,
  ) {}

  /**
   * The health of outbound tokens and inbound keys under `key`:
   * `{ [key]: { status, services: { [name]: ServiceTokenHealth }, keys?: SigningKeysHealth, iapKeys?: SigningKeysHealth } }`.
   */
  async isHealthy<const Key extends string>(
    key: Key,
    { timeoutMs = DEFAULT_TIMEOUT_MS }: CloudRunAuthHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const indicator = this.health.check(key);
    const authenticated = this.registry.all().filter((service) => service.authenticate);
    // Google's keys only where ID tokens are verified: an IAP-only service never needs them.
    const idTokenKeys = this.inbound && this.inbound.verifier.audiences.length > 0 ? this.keyStore : null;
    const [checked, keys, iapKeys] = await Promise.all([
      Promise.all(authenticated.map((service) => this.checkService(service, timeoutMs))),
      this.checkKeys(idTokenKeys, timeoutMs),
      this.checkKeys(this.iapKeyStore, timeoutMs),
    ]);
    const services = Object.fromEntries(authenticated.map(({ name }, i) => [name, checked[i]!]));
    const data: {
      services: Record<string, ServiceTokenHealth>;
      keys?: SigningKeysHealth;
      iapKeys?: SigningKeysHealth;
    } = { services };
    if (keys) data.keys = keys;
    if (iapKeys) data.iapKeys = iapKeys;
    const down =
      checked.some(({ status }) => status === 'down') || keys?.status === 'down' || iapKeys?.status === 'down';
    return down ? indicator.down(data) : indicator.up(data);
  }

  private async checkService(
    { name, audience, tokenProvider }: ResolvedServiceDefinition,
    timeoutMs: number,
  ): Promise<ServiceTokenHealth> {
    try {
      const lease =
        this.cache.peek(audience, tokenProvider) ??
        (await this.cache.lease(audience, { provider: tokenProvider, service: name, timeoutMs }));
      return { status: 'up', audience, validForSeconds: Math.round((lease.usableUntil - Date.now()) / 1000) };
    } catch (error) {
      // IdTokenFetchError messages name endpoints and files, never a token.
      return { status: 'down', audience, error: error instanceof Error ? error.message : String(error) };
    }
  }

  private async checkKeys(keyStore: SigningKeyStore | null, timeoutMs: number): Promise<SigningKeysHealth | undefined> {
    // A custom SigningKeyStore cannot be asked whether it is ready without asking it for a key.
    if (!(keyStore instanceof JwksKeyStore)) return undefined;
    if (keyStore.hasKeys) return { status: 'up' };
    try {
      await waitFor(
        keyStore.getKey(PROBE_KID),
        { timeoutMs },
        () => new Error(`the signing keys did not load within ${timeoutMs} ms`),
      );
      return { status: 'up' };
    } catch (error) {
      return { status: 'down', error: error instanceof Error ? error.message : String(error) };
    }
  }
}
