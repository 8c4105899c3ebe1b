/** The verified identity behind an inbound request, as read from its Google ID token or IAP assertion; frozen. */
export interface CallerIdentity {
  /**
   * Where the identity was read from: a Google ID token (`Authorization` or
   * `X-Serverless-Authorization`), or the signed assertion of Identity-Aware Proxy
   * (`x-goog-iap-jwt-assertion`).
   */
  readonly source: 'id-token' | 'iap';
  /**
   * The caller's email (`email` claim). ID tokens: only when the token also says
   * `email_verified: true`; `undefined` for tokens minted without email (e.g. `format=standard`)
   * or with an unverified one. IAP assertions: always, the user (or service account) IAP let in.
   */
  readonly email: string | undefined;
  /** `sub`: the caller's stable unique id (IAP: `accounts.google.com:NUMERIC_ID`). */
  readonly subject: string;
  /** `aud`: the audience the token was minted for (one of the configured ones). */
  readonly audience: string;
  /** `iss`: `https://accounts.google.com` or `accounts.google.com`; IAP: `https://cloud.google.com/iap`. */
  readonly issuer: string;
  /** `iat` as a Date (a new one on each read: the identity is shared by the requests that present the same token). */
  readonly issuedAt: Date;
  /** `exp` as a Date (a new one on each read). */
  readonly expiresAt: Date;
  /**
   * `true` when this process verified the signature; `false` only in `cloud-run-iam` mode for
   * an ID token whose signature Cloud Run removed after checking it.
   */
  readonly signatureVerified: boolean;
  /** Every claim of the token payload (frozen); IAP's `hd` (the user's Workspace domain) and `google` among them. */
  readonly claims: Readonly<Record<string, unknown>>;
}
