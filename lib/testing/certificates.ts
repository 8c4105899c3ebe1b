import { toJwk, type SigningKey } from './signing-key.js';
import { createSelfSignedCertificate } from './x509.js';

/** Subject and issuer of the certificates at Google's `https://www.googleapis.com/oauth2/v1/certs`. */
export const CERTIFICATE_COMMON_NAME = 'federated-signon.system.gserviceaccount.com';

const DAY_MS = 86_400_000;
/** Google's token-signing certificates are valid for about two weeks. */
const VALIDITY_MS = 14 * DAY_MS;

/**
 * The two certificate endpoints: `/oauth2/v3/certs` (JWKS) and `/oauth2/v1/certs`
 * (`{ kid: X.509 PEM }`, self-signed certificates wrapping the same keys). A key's certificate
 * is made on first use and renewed when less than a day of its validity is left, so a
 * long-running emulator never serves an expired one.
 */
export class Certificates {
  private readonly issued = new WeakMap<SigningKey, { pem: string; renewAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The JWKS document. */
  jwks(keys: readonly SigningKey[]): { keys: Record<string, string>[] } {
    return { keys: keys.map(toJwk) };
  }

  /** The kid → PEM certificate map. */
  pemCertificates(keys: readonly SigningKey[]): Record<string, string> {
    return Object.fromEntries(keys.map((key) => [key.kid, this.certificateOf(key)]));
  }

  /** The current certificate of one key. */
  certificateOf(key: SigningKey): string {
    const now = this.now();
    const cached = this.issued.get(key);
    if (cached && now < cached.renewAt) return cached.pem;
    // A day of slack before now, for verifiers whose clock is behind.
    const notBefore = new Date(Math.floor(now / 1000) * 1000 - DAY_MS);
    const notAfter = new Date(notBefore.getTime() + VALIDITY_MS);
    const pem = createSelfSignedCertificate(key.publicKey, key.privateKey, {
      commonName: CERTIFICATE_COMMON_NAME,
      notBefore,
      notAfter,
    });
    this.issued.set(key, { pem, renewAt: notAfter.getTime() - DAY_MS });
    return pem;
  }
}
