import { CloudRunAuthConfigError } from '../errors/config.error.js';

/** Rejects keys that are not options: a typo must not silently disable a setting. */
export function assertKnownKeys(value: object, known: readonly string[], at: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new CloudRunAuthConfigError(`unknown option "${key}" (known: ${known.join(', ')})`, `${at}.${key}`);
    }
  }
}

/** Narrows `value` to a plain object, or throws naming `at`. */
export function assertObject(value: unknown, at: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CloudRunAuthConfigError('must be an object', at);
  }
}
