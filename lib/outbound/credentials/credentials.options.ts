import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import { assertKnownKeys, assertObject, isEmail, resolveSecureUrl } from '../../shared/options/option.assertions.js';

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

const CREDENTIALS_KEYS = ['keyFile', 'credentials', 'impersonate', 'delegates', 'iamCredentialsUrl'];

/** Validates a `credentials` option (module-wide or per service); `at` names it in errors. */
export function validateCredentials(value: unknown, at: string): CredentialsOptions | undefined {
  if (value === undefined) return undefined;
  assertObject(value, at);
  assertKnownKeys(value, CREDENTIALS_KEYS, at);
  const options = value as CredentialsOptions;
  if (options.keyFile !== undefined && (typeof options.keyFile !== 'string' || options.keyFile === '')) {
    throw new CloudRunAuthConfigError('must be a file path', `${at}.keyFile`);
  }
  if (options.keyFile !== undefined && options.credentials !== undefined) {
    throw new CloudRunAuthConfigError('give keyFile or credentials, not both', `${at}.credentials`);
  }
  if (options.credentials !== undefined) {
    assertObject(options.credentials, `${at}.credentials`);
    if (typeof options.credentials.type !== 'string') {
      throw new CloudRunAuthConfigError('must be a parsed credentials JSON with a "type"', `${at}.credentials`);
    }
  }
  if (options.impersonate !== undefined && !isEmail(options.impersonate)) {
    throw new CloudRunAuthConfigError('must be a service-account email', `${at}.impersonate`);
  }
  if (options.delegates !== undefined) {
    if (!Array.isArray(options.delegates) || options.delegates.some((d) => typeof d !== 'string' || d === '')) {
      throw new CloudRunAuthConfigError('must be an array of service-account emails', `${at}.delegates`);
    }
    if (!options.impersonate) throw new CloudRunAuthConfigError('only applies with impersonate', `${at}.delegates`);
  }
  if (options.iamCredentialsUrl !== undefined) resolveSecureUrl(options.iamCredentialsUrl, `${at}.iamCredentialsUrl`);
  return options;
}
