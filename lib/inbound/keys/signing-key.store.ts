import type { KeyObject } from 'node:crypto';

/**
 * Source of the public keys that sign tokens, and the DI token of the module's store of Google's
 * ID-token keys; the verifiers take one (IAP's keys for `IapAssertionVerifier`).
 */
export abstract class SigningKeyStore {
  /**
   * The public key with id `kid` (RSA for ID tokens, EC P-256 for IAP assertions), or
   * `undefined` when there is none (after whatever refetch the store allows). Rejects with a
   * `TokenVerificationError` of reason `keys_unavailable` when no keys at all could be obtained.
   */
  abstract getKey(kid: string): Promise<KeyObject | undefined>;
}
