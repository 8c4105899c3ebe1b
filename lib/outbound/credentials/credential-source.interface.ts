/**
 * One kind of Google credential, able to mint ID tokens and (to act as the source of an
 * impersonation) access tokens. Sources fetch; caching of ID tokens is the cache's job.
 */
export interface CredentialSource {
  /** What it is and where it came from, for error messages: `service_account (GOOGLE_APPLICATION_CREDENTIALS=/k.json)`. */
  readonly description: string;
  idToken(audience: string, signal?: AbortSignal): Promise<string>;
  accessToken(signal?: AbortSignal): Promise<string>;
}

/** The OAuth scope Google's token endpoints are asked for when an access token is the goal. */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
