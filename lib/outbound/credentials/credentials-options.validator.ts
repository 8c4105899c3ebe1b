import { CloudRunAuthConfigError } from '../../shared/errors/config.error.js';
import type { CredentialsOptions } from './credentials-options.interface.js';
import { assertKnownKeys, assertObject, isEmail, resolveSecureUrl } from '../../shared/options/option.assertions.js';

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
