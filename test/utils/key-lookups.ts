import type { KeyObject } from 'node:crypto';
import { JwksKeyStore } from '../../lib/inbound/keys/jwks.key-store.js';
import { SigningKeyStore } from '../../lib/inbound/keys/signing-key.store.js';

/**
 * Counts key lookups: verifications that were not answered by the verified-token cache (a
 * signature is never checked without one).
 */
export class CountingKeyStore extends SigningKeyStore {
  lookups = 0;
  constructor(private readonly inner: SigningKeyStore) {
    super();
  }
  getKey(kid: string): Promise<KeyObject | undefined> {
    this.lookups += 1;
    return this.inner.getKey(kid);
  }
}

/** The durations of key lookups that could not be answered from a held key set; `restore()` ends the timing. */
export interface KeyLookupTimes {
  /** Milliseconds each `getKey()` call took, in the order they settled. */
  readonly waits: number[];
  restore(): void;
}

/**
 * Times the `JwksKeyStore.getKey()` calls the held key set could not answer (no key set held, or
 * a kid the held set lacks): one that did not wait returns within microseconds, one that waited
 * for a fetch takes about as long as the fetch. Calls answered from the held set are not recorded.
 */
export function timeKeyLookups(): KeyLookupTimes {
  const original = JwksKeyStore.prototype.getKey;
  const waits: number[] = [];
  JwksKeyStore.prototype.getKey = async function (this: JwksKeyStore, kid: string) {
    if ((this as unknown as { keys?: Map<string, KeyObject> }).keys?.has(kid)) return original.call(this, kid);
    const started = performance.now();
    try {
      return await original.call(this, kid);
    } finally {
      waits.push(performance.now() - started);
    }
  };
  return { waits, restore: () => void (JwksKeyStore.prototype.getKey = original) };
}
