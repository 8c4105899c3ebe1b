import type { KeyObject } from 'node:crypto';

/**
 * Source of the public keys that sign ID tokens, and the DI token for it: override the
 * provider (`SigningKeyStore`) to supply keys another way, e.g. in tests.
 */
export abstract class SigningKeyStore {
  /**
   * The RSA public key with id `kid`, or `undefined` when there is none (after whatever
   * refetch the store allows). Rejects with a `TokenVerificationError` of reason
   * `keys_unavailable` when no keys at all could be obtained.
   */
  abstract getKey(kid: string): Promise<KeyObject | undefined>;
}
