/** What an `aud` value says about where its token was meant to go. */
export interface AudienceFacts {
  /** Its origin, when it is an http(s) URL. */
  origin: string | undefined;
  /** A URL with more than its origin: a path, a query or a fragment. Cloud Run expects the origin. */
  hasPath: boolean;
  /**
   * An OAuth client ID (`….apps.googleusercontent.com`): a user's ID token, issued to the client
   * that asked for it (gcloud's), whatever audience was wanted.
   */
  oauthClient: boolean;
}

/** Reads an `aud` claim (or an audience about to be requested). */
export function audienceFacts(aud: unknown): AudienceFacts {
  const oauthClient = typeof aud === 'string' && /\.apps\.googleusercontent\.com$/i.test(aud);
  const url = urlOf(aud);
  if (!url) return { origin: undefined, hasPath: false, oauthClient };
  const hasPath = url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]$/.test(aud as string);
  return { origin: url.origin, hasPath, oauthClient };
}

/** Whether `aud` names `url`'s origin, with or without one trailing slash (as the guard accepts it). */
export function isOriginOf(aud: unknown, url: string): boolean {
  const origin = urlOf(url)?.origin;
  return origin !== undefined && (aud === origin || aud === `${origin}/`);
}

/** Where a Cloud Run URL points, as far as its host tells: the service's name, and its region in deterministic URLs. */
export interface CloudRunTarget {
  /** `*.run.app`: a URL Cloud Run itself serves. */
  runApp: boolean;
  service: string | undefined;
  region: string | undefined;
}

// https://SERVICE-PROJECT_NUMBER.REGION.run.app
const DETERMINISTIC_URL = /^([a-z](?:[a-z0-9-]*[a-z0-9])?)-\d{6,}\.([a-z]+-[a-z]+\d+)\.run\.app$/;
// https://SERVICE-HASH-REGION_CODE.a.run.app: the region is only abbreviated there.
const HASH_URL = /^([a-z](?:[a-z0-9-]*[a-z0-9])?)-[a-z0-9]{8,12}-[a-z]{2,4}\.a\.run\.app$/;

/** The service (and region) a `run.app` URL names; `undefined` fields where the URL does not tell. */
export function cloudRunTarget(url: string): CloudRunTarget {
  const host = urlOf(url)?.hostname ?? '';
  const deterministic = DETERMINISTIC_URL.exec(host);
  if (deterministic) return { runApp: true, service: deterministic[1], region: deterministic[2] };
  const hashed = HASH_URL.exec(host);
  return { runApp: host.endsWith('.run.app'), service: hashed?.[1], region: undefined };
}

function urlOf(value: unknown): URL | undefined {
  if (typeof value !== 'string' || !/^https?:\/\//i.test(value)) return undefined;
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
