import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { isEmail } from '../shared/options/option.assertions.js';

/** A compiled caller allow-list. */
export interface CallerAllowList {
  /** The patterns, lowercased, as given. */
  readonly patterns: readonly string[];
  /** Whether `email` is allowed (case-insensitive). */
  matches(email: string): boolean;
}

// One project's user-managed service accounts. Shared domains (developer.gserviceaccount.com,
// appspot.gserviceaccount.com, gcp-sa-*.iam..., gmail.com) would admit other projects' or users' identities.
const PROJECT_WILDCARD = /^\*@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/;

/** Most decisions an allow-list remembers; all are forgotten when it is full (emails come only from verified tokens). */
const MAX_REMEMBERED_DECISIONS = 4096;

/**
 * Validates and compiles allow-list entries: exact emails, or `*@PROJECT_ID.iam.gserviceaccount.com`.
 * @param at where the list comes from, for the error (`inbound.allowedCallers`, `@AllowedCallers()`).
 * @throws CloudRunAuthConfigError on an empty list or any other pattern.
 */
export function compileAllowList(patterns: unknown, at: string): CallerAllowList {
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new CloudRunAuthConfigError('must be a non-empty array of caller emails', at);
  }
  const exact = new Set<string>();
  const domains = new Set<string>();
  for (const pattern of patterns) {
    if (typeof pattern !== 'string')
      throw new CloudRunAuthConfigError(`entries must be strings, got ${typeof pattern}`, at);
    const lower = pattern.toLowerCase();
    const wildcard = PROJECT_WILDCARD.exec(lower);
    if (wildcard && !wildcard[1]!.startsWith('gcp-sa-')) {
      domains.add(lower.slice(2));
    } else if (isEmail(lower)) {
      exact.add(lower);
    } else {
      throw new CloudRunAuthConfigError(
        `${JSON.stringify(pattern).slice(0, 100)} is neither an email address nor "*@PROJECT_ID.iam.gserviceaccount.com"; ` +
          'broader wildcards would match identities of other projects or of any Google user',
        at,
      );
    }
  }
  const match = (email: string): boolean => {
    const lower = email.toLowerCase();
    if (exact.has(lower)) return true;
    const at = lower.indexOf('@');
    return at > 0 && at === lower.lastIndexOf('@') && domains.has(lower.slice(at + 1));
  };
  // Decisions are kept per email string: a verified caller's identity, and so its email string,
  // is shared by all its requests, and a string caches its hash, so a repeat costs one lookup
  // instead of lowercasing, slicing and hashing anew.
  const decisions = new Map<string, boolean>();
  return {
    patterns: [...exact, ...[...domains].map((domain) => `*@${domain}`)],
    matches(email: string): boolean {
      let allowed = decisions.get(email);
      if (allowed === undefined) {
        allowed = match(email);
        if (decisions.size >= MAX_REMEMBERED_DECISIONS) decisions.clear();
        decisions.set(email, allowed);
      }
      return allowed;
    },
  };
}
