/** The verified identity behind an inbound request, as read from its Google ID token; frozen. */
export interface CallerIdentity {
  /**
   * The caller's email (`email` claim), only when the token also says `email_verified: true`;
   * `undefined` for tokens minted without email (e.g. `format=standard`) or with an unverified one.
   */
  readonly email: string | undefined;
  /** `sub`: the caller's stable unique id. */
  readonly subject: string;
  /** `aud`: the audience the token was minted for (one of the configured ones). */
  readonly audience: string;
  /** `iss`: `https://accounts.google.com` or `accounts.google.com`. */
  readonly issuer: string;
  /** `iat` as a Date (a new one on each read: the identity is shared by the requests that present the same token). */
  readonly issuedAt: Date;
  /** `exp` as a Date (a new one on each read). */
  readonly expiresAt: Date;
  /**
   * `true` when this process verified the RS256 signature; `false` only in `cloud-run-iam`
   * mode for a token whose signature Cloud Run removed after checking it.
   */
  readonly signatureVerified: boolean;
  /** Every claim of the token payload (frozen). */
  readonly claims: Readonly<Record<string, unknown>>;
}
