/** The emulator's defaults, shared with its command line. */
export const EMULATOR_DEFAULTS = {
  serviceAccountEmail: 'caller@emulator-project.iam.gserviceaccount.com',
  tokenLifetimeSeconds: 3600,
  projectId: 'emulator-project',
  projectNumber: '123456789012',
  region: 'us-central1',
  certsMaxAgeSeconds: 21600,
  maxRecordedRequests: 10000,
} as const;

/** Options of {@link startEmulator}. */
export interface EmulatorOptions {
  /** TCP port on 127.0.0.1. @default 0 (a free port) */
  port?: number;
  /** The identity the metadata server hands out. @default 'caller@emulator-project.iam.gserviceaccount.com' */
  serviceAccountEmail?: string;
  /** Lifetime of minted ID tokens. @default 3600 (Google's) */
  tokenLifetimeSeconds?: number;
  /** Project id served at `/computeMetadata/v1/project/project-id`. @default 'emulator-project' */
  projectId?: string;
  /** Served at `project/numeric-project-id`, and in `instance/zone` and `instance/region`. @default '123456789012' */
  projectNumber?: string;
  /** The region of `instance/region` (`projects/NUMBER/regions/REGION`) and `instance/zone` (`REGION-1`). @default 'us-central1' */
  region?: string;
  /** `Cache-Control: max-age` of the certificate responses (JWKS and PEM). @default 21600 */
  certsMaxAgeSeconds?: number;
  /** How many of the most recent requests {@link Emulator.requests} keeps (0: none). @default 10000 */
  maxRecordedRequests?: number;
  /**
   * The `aud` of the IAP assertions it signs: `/projects/PROJECT_NUMBER/locations/REGION/services/SERVICE_NAME`
   * (IAP on Cloud Run) or `/projects/PROJECT_NUMBER/global/backendServices/BACKEND_SERVICE_ID`.
   * @default '/projects/PROJECT_NUMBER/locations/REGION/services/emulator-service'
   */
  iapAudience?: string;
  /**
   * Also sign IAP assertions over HTTP, for curl and clients in other languages:
   * `GET /iap/assertion?email=EMAIL` answers one for that user ({@link Emulator.iapAssertionUrl}).
   * Anything that reaches the port may then get one for any email. @default false
   */
  serveIapAssertions?: boolean;
}

/** Options of {@link Emulator.mintIdToken}. */
export interface MintOptions {
  /** Token lifetime; `exp = iat + lifetimeSeconds`. @default the emulator's `tokenLifetimeSeconds` */
  lifetimeSeconds?: number;
  /** Header fields to merge over `{ alg: 'RS256', kid, typ: 'JWT' }` (for forging tests). */
  header?: Record<string, unknown>;
  /**
   * Produce the form Cloud Run passes to a container after its IAM check:
   * the signature replaced by `SIGNATURE_REMOVED_BY_GOOGLE`. @default false
   */
  stripSignature?: boolean;
}

/** How {@link Emulator.fail} makes an endpoint misbehave. */
export interface EndpointFailureOptions {
  /**
   * `error`: answer 503; `slow`: answer normally after `delayMs`;
   * `hang`: never answer; `garbage`: answer 200 with a body that is not what was asked for.
   */
  mode: 'error' | 'slow' | 'hang' | 'garbage';
  /** How many requests misbehave; `Infinity` for all. @default 1 */
  times?: number;
  /** Delay of `slow`. @default 1000 */
  delayMs?: number;
}

/** One request the emulator received, for wire-level assertions. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A running emulator on loopback: a GCE / Cloud Run metadata server, Google's certificate
 * endpoints, its OAuth token, STS and IAM Credentials endpoints, and Identity-Aware Proxy's keys.
 * It answers only requests whose `Host` is its own address (`127.0.0.1`, `localhost` or `[::1]`
 * with its port) or a metadata server name (`metadata.google.internal`, `metadata`,
 * `169.254.169.254`, without a port or with its own); others get a 403 and are not recorded, so a
 * web page cannot read tokens through DNS rebinding.
 */
export interface Emulator {
  /** `host:port`, the value for `GCE_METADATA_HOST` (and `GCE_METADATA_IP`, which Python's availability probe uses). */
  metadataHost: string;
  /** `http://host:port`. */
  url: string;
  /** JWKS URL, the stand-in for `https://www.googleapis.com/oauth2/v3/certs`. */
  certsUrl: string;
  /** `{ kid: X.509 certificate PEM }` URL, the stand-in for `https://www.googleapis.com/oauth2/v1/certs`. */
  pemCertsUrl: string;
  /**
   * IAP's JWKS URL (EC P-256 keys), the stand-in for `https://www.gstatic.com/iap/verify/public_key-jwk`:
   * the value for `inbound.iap.certsUrl`.
   */
  iapCertsUrl: string;
  /**
   * IAP's `{ kid: public key PEM }` URL, the stand-in for `https://www.gstatic.com/iap/verify/public_key`
   * (google-auth-library's `oauth2IapPublicKeyUrl`).
   */
  iapPemKeysUrl: string;
  /** The `aud` of the IAP assertions it signs, unless a claim says otherwise (`iapAudience`). */
  iapAudience: string;
  /**
   * With `serveIapAssertions`, the URL that answers an IAP assertion (text) for the user named by
   * its `email` query parameter: `GET ${iapAssertionUrl}?email=alice@example.com`; else `undefined`.
   */
  iapAssertionUrl: string | undefined;
  /** The email the metadata server reports and puts in tokens. */
  serviceAccountEmail: string;
  /**
   * OAuth 2.0 token endpoint (JWT-bearer and refresh-token grants), the stand-in for
   * `https://oauth2.googleapis.com/token`. Assertions may name it or Google's token URLs as `aud`.
   */
  tokenUri: string;
  /** Security Token Service endpoint (token exchange), the stand-in for `https://sts.googleapis.com/v1/token`. */
  stsUrl: string;
  /** IAM Credentials base URL, the stand-in for `https://iamcredentials.googleapis.com`. */
  iamCredentialsUrl: string;
  /** A service-account key file (`type: service_account`) for `email`, with `token_uri` pointing here. @default email: the emulator's own */
  createServiceAccountKey(email?: string): Record<string, string>;
  /** `authorized_user` credentials with `token_uri` pointing here. @default email: 'developer@example.com' */
  createUserCredentials(email?: string): Record<string, string>;
  /** The principal an access token issued by this emulator belongs to; `undefined` for any other token. */
  principalOf(accessToken: string): string | undefined;
  /** The key id tokens are currently signed with. */
  readonly currentKid: string;
  /**
   * Signs a Google-shaped ID token with the current key. `claims` override the defaults
   * (`iss`, `aud`, `azp`, `sub`, `email`, `email_verified`, `iat`, `exp`); a claim set to
   * `undefined` is removed.
   */
  mintIdToken(claims?: Record<string, unknown>, options?: MintOptions): string;
  /**
   * Signs an assertion as Identity-Aware Proxy adds it to the requests it lets through
   * (`x-goog-iap-jwt-assertion`): ES256 with the emulator's IAP key (served at {@link Emulator.iapCertsUrl}).
   * `claims` override the defaults: `iss` `https://cloud.google.com/iap`,
   * `aud` {@link Emulator.iapAudience}, `email`
   * `developer@example.com`, `sub` `accounts.google.com:` and a numeric id derived from the
   * email, `iat`, `exp` (ten minutes later, as IAP's); add `hd` or `google` as a test needs them.
   * A claim set to `undefined` is removed. `options.header` is merged over `{ alg: 'ES256', kid, typ: 'JWT' }`.
   */
  mintIapAssertion(claims?: Record<string, unknown>, options?: Pick<MintOptions, 'lifetimeSeconds' | 'header'>): string;
  /** Adds a new current signing key (the previous one stays published, as Google does); returns its kid. */
  rotateKeys(options?: { dropPrevious?: boolean }): string;
  /**
   * Recorded requests whose path equals `path`, or ends with `/path` when `path` is relative; all when omitted.
   * Only the most recent `maxRecordedRequests` (default 10 000) are kept.
   */
  requestCount(path?: string): number;
  /**
   * The recorded requests (headers in full, bearer tokens included), filtered like
   * {@link Emulator.requestCount}; the most recent `maxRecordedRequests` (default 10 000), oldest first.
   */
  requests(path?: string): RecordedRequest[];
  /** Makes the next `times` requests to `path` misbehave. */
  fail(path: string, options: EndpointFailureOptions): void;
  /** Clears recorded requests and pending failures. */
  reset(): void;
  /** Stops the server and drops every open connection, hung ones included. */
  close(): Promise<void>;
}
