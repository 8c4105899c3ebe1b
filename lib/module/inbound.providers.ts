import type { Provider } from '@nestjs/common';
import { JwksKeyStore } from '../inbound/keys/jwks.key-store.js';
import { SigningKeyStore } from '../inbound/keys/signing-key.store.js';
import { CLOUD_RUN_AUTH_INBOUND_OPTIONS } from '../inbound/inbound.constants.js';
import type { ResolvedInboundOptions } from '../inbound/inbound.options.js';
import { IapAssertionVerifier } from '../inbound/verifier/iap-assertion.verifier.js';
import { IdTokenVerifier } from '../inbound/verifier/id-token.verifier.js';
import { CloudRunAuthTelemetry } from '../shared/telemetry/cloud-run-auth.telemetry.js';
import { InboundTelemetry } from '../inbound/inbound.telemetry.js';
import { CLOUD_RUN_AUTH_CONFIG } from './cloud-run-auth.constants.js';
import type { ResolvedCloudRunAuthOptions } from './cloud-run-auth.options.js';

/** The store of IAP's keys: a provider of its own, so that its fetches are aborted at shutdown. */
export const IAP_KEY_STORE = Symbol('CloudRunAuth IAP key store');

/**
 * The core's inbound providers. Each is `null` when `inbound` is not configured (the IAP ones
 * also without `inbound.iap`), so that `forRootAsync` (whose options exist only after its
 * factory ran) can always register them; the guard refuses to be constructed without them.
 */
export const INBOUND_PROVIDERS: Provider[] = [
  {
    provide: CLOUD_RUN_AUTH_INBOUND_OPTIONS,
    useFactory: ({ inbound }: ResolvedCloudRunAuthOptions) => inbound ?? null,
    inject: [CLOUD_RUN_AUTH_CONFIG],
  },
  {
    provide: SigningKeyStore,
    useFactory: (inbound: ResolvedInboundOptions | null, telemetry: CloudRunAuthTelemetry) =>
      inbound && new JwksKeyStore(inbound.verifier, telemetry),
    inject: [CLOUD_RUN_AUTH_INBOUND_OPTIONS, CloudRunAuthTelemetry],
  },
  {
    provide: IdTokenVerifier,
    useFactory: (inbound: ResolvedInboundOptions | null, keyStore: SigningKeyStore | null) =>
      inbound && keyStore && new IdTokenVerifier(inbound.verifier, keyStore),
    inject: [CLOUD_RUN_AUTH_INBOUND_OPTIONS, SigningKeyStore],
  },
  {
    provide: InboundTelemetry,
    useFactory: (inbound: ResolvedInboundOptions | null, telemetry: CloudRunAuthTelemetry) =>
      inbound && telemetry.tracing
        ? new InboundTelemetry(telemetry, {
            mode: inbound.verifier.mode,
            audiences: [...inbound.verifier.audiences, ...(inbound.iap?.audiences ?? [])],
          })
        : null,
    inject: [CLOUD_RUN_AUTH_INBOUND_OPTIONS, CloudRunAuthTelemetry],
  },
  {
    provide: IAP_KEY_STORE,
    useFactory: (inbound: ResolvedInboundOptions | null, telemetry: CloudRunAuthTelemetry) =>
      inbound?.iap ? new JwksKeyStore({ ...inbound.iap, algorithm: 'ES256' }, telemetry) : null,
    inject: [CLOUD_RUN_AUTH_INBOUND_OPTIONS, CloudRunAuthTelemetry],
  },
  {
    provide: IapAssertionVerifier,
    useFactory: (inbound: ResolvedInboundOptions | null, keyStore: JwksKeyStore | null) =>
      inbound?.iap && keyStore ? new IapAssertionVerifier(inbound.iap, keyStore) : null,
    inject: [CLOUD_RUN_AUTH_INBOUND_OPTIONS, IAP_KEY_STORE],
  },
];

/** What the guard and its subclasses inject, exported by the (global) core. */
export const INBOUND_EXPORTS = [
  CLOUD_RUN_AUTH_INBOUND_OPTIONS,
  SigningKeyStore,
  IdTokenVerifier,
  IapAssertionVerifier,
  IAP_KEY_STORE,
  InboundTelemetry,
];
