/** Which Google identity mints the ID tokens (`credentials`, module-wide or per service). */
export interface CredentialsOptions {
  /** Path of a credentials JSON file (any ADC type). @default Application Default Credentials lookup */
  keyFile?: string;
  /** Parsed credentials JSON, instead of a file. @default none */
  credentials?: Record<string, unknown>;
  /**
   * Email of a service account to impersonate via IAM Credentials `generateIdToken`; the
   * credentials above (or ADC) only authorise the impersonation. @default none
   */
  impersonate?: string;
  /** Delegation chain for `impersonate` (emails or `projects/-/serviceAccounts/…`). @default [] */
  delegates?: string[];
  /** Base URL of the IAM Credentials API used by `impersonate`. @default 'https://iamcredentials.googleapis.com' */
  iamCredentialsUrl?: string;
}
