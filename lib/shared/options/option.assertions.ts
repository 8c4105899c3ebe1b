import { CloudRunAuthConfigError } from '../errors/config.error.js';

/**
 * Rejects keys that are not options: a typo must not silently disable a setting.
 * `at` prefixes the field in the error; empty for top-level options.
 */
export function assertKnownKeys(value: object, known: readonly string[], at: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new CloudRunAuthConfigError(
        `unknown option "${key}" (known: ${known.join(', ')})`,
        at ? `${at}.${key}` : key,
      );
    }
  }
}

/** Narrows `value` to a plain object, or throws naming `at`. */
export function assertObject(value: unknown, at: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CloudRunAuthConfigError('must be an object', at);
  }
}

// Parts of printable ASCII but "@" and "*": Google account emails are ASCII, and a non-ASCII
// look-alike (U+212A KELVIN SIGN for "k") must never pass for one.
const EMAIL = /^[\x21-\x29\x2b-\x3f\x41-\x7e]+@[\x21-\x29\x2b-\x3f\x41-\x7e]+\.[\x21-\x29\x2b-\x3f\x41-\x7e]+$/;
const MAX_EMAIL_LENGTH = 254;
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Whether `value` is an email address: printable ASCII only, no wildcard, no spaces, a dot in the
 * domain, at most 254 characters.
 */
export function isEmail(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_EMAIL_LENGTH && EMAIL.test(value);
}

/** The index of the first character of `value` outside ASCII, or -1. */
export function nonAsciiIndex(value: string): number {
  return value.search(NON_ASCII);
}

/**
 * `value` lowercased as Google compares emails, ASCII letters only; `undefined` when it has any
 * character outside ASCII. `toLowerCase()` alone would fold look-alikes onto ASCII letters
 * (U+212A KELVIN SIGN to "k", U+0130 to "i" and a dot), making them equal to the email they imitate.
 */
export function asciiLowerCase(value: string): string | undefined {
  // On an all-ASCII string, toLowerCase() changes A-Z only.
  return NON_ASCII.test(value) ? undefined : value.toLowerCase();
}

/** `value` as JSON with every character outside printable ASCII escaped, for messages that must tell look-alikes apart. */
export function describeAscii(value: string): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether `url` names this machine by one of the hosts plain http is always allowed to. */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK.has(url.hostname);
}

/** Options of {@link resolveSecureUrl}. */
export interface SecureUrlOptions {
  /** Also accept plain `http:` to a host that is not loopback: an explicit opt-in of the field's owner. @default false */
  allowInsecureHttp?: boolean;
  /** Appended to the refusal of plain http to a host that is not loopback, e.g. how to opt in. @default none */
  insecureHttpHint?: string;
}

/**
 * Parses an endpoint option that credentials or keys travel over: absolute, and `https:`,
 * or plain `http:` to loopback only (emulators); anything on a network in clear text could be
 * read or swapped on the path. `allowInsecureHttp` lifts the loopback rule for one field.
 */
export function resolveSecureUrl(value: unknown, field: string, options: SecureUrlOptions = {}): URL {
  let url: URL;
  try {
    url = new URL(value as string);
  } catch {
    throw new CloudRunAuthConfigError(`must be an absolute URL, got ${JSON.stringify(value)}`, field);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CloudRunAuthConfigError(`must be an https: URL, got ${url.protocol}`, field);
  }
  if (url.protocol === 'http:' && !isLoopbackUrl(url) && !options.allowInsecureHttp) {
    const hint = options.insecureHttpHint ? `; ${options.insecureHttpHint}` : '';
    throw new CloudRunAuthConfigError(
      `must be an https: URL; plain http is only allowed to loopback (localhost, 127.0.0.1, ::1), got host ${url.hostname}${hint}`,
      field,
    );
  }
  return url;
}
