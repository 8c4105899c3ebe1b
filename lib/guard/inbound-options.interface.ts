/** Configuration of inbound verification (`inbound` in the module options). */
export interface InboundOptions {
  /** Accepted `aud` values: the service URL, or the full push/task URL for Pub/Sub, Cloud Tasks, Cloud Scheduler. */
  audience: string | string[];
  /** Caller emails allowed by default; exact, or `*@project.iam.gserviceaccount.com`. @default none */
  allowedCallers?: string[];
  /** Accept any verified Google identity when no allow-list applies. @default false */
  allowAnyCaller?: boolean;
  /** `verify` checks signatures; `cloud-run-iam` also accepts tokens Cloud Run already checked. @default 'verify' */
  mode?: 'verify' | 'cloud-run-iam';
  /** Register the guard globally (`APP_GUARD`). @default false */
  mount?: boolean;
  /** Leeway for `exp`, `iat`, `nbf`. @default 30 */
  clockToleranceSeconds?: number;
  /** Google's JWKS endpoint. @default 'https://www.googleapis.com/oauth2/v3/certs' */
  certsUrl?: string;
}
