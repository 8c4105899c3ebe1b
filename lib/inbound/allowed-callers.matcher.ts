import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { asciiLowerCase, describeAscii, isEmail, nonAsciiIndex } from '../shared/options/option.assertions.js';
import type { CallerIdentity } from './verifier/caller-identity.interface.js';

/** A compiled caller allow-list. */
export interface CallerAllowList {
  /** The patterns as given, emails lowercased: exact emails, then `*@…` wildcards, then `sub:` entries. */
  readonly patterns: readonly string[];
  /**
   * Whether `email` is allowed, for a caller whose identity came from `source`: compared as Google
   * compares emails, ASCII case-insensitively (an email with any other character matches nothing);
   * `*@DOMAIN` patterns of people's domains match IAP callers only. `sub:` entries play no part.
   * @param source @default 'id-token'
   */
  matches(email: string, source?: CallerIdentity['source']): boolean;
  /**
   * Whether the caller is allowed: an ID-token caller whose `subject` a `sub:` entry names (with or
   * without email), or a verified `email` that {@link matches}. What the guard asks.
   */
  allows(identity: Pick<CallerIdentity, 'source' | 'email' | 'subject'>): boolean;
}

// One project's user-managed service accounts. Shared domains (developer.gserviceaccount.com,
// appspot.gserviceaccount.com, gcp-sa-*.iam..., gmail.com) would admit other projects' or users' identities.
const PROJECT_WILDCARD = /^\*@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/;
// All users of one domain: for IAP callers only (see compileAllowList).
const DOMAIN_WILDCARD = /^\*@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$/;
// Domains that name no organisation (any Google user, any project's service accounts), and look-alikes of them.
const UNOWNED_DOMAIN = /(?:^|\.)(?:gserviceaccount|gmail|googlemail)\.com(?:\.|$)/;
// A caller by Google's numeric unique ID of its account (a token's `sub`; a service account's "unique ID").
const SUBJECT_PREFIX = 'sub:';
const SUBJECT_ENTRY = /^sub:([0-9]{1,64})$/;

/** The allow-list entry that names a caller of ID tokens by `subject` (`sub:DIGITS`), or `undefined` when no entry can. */
export function subjectEntry(subject: string): string | undefined {
  const entry = `${SUBJECT_PREFIX}${subject}`;
  return SUBJECT_ENTRY.test(entry) ? entry : undefined;
}

/** Whether an allow-list pattern is a `*@DOMAIN` of people, which matches IAP callers only. */
export function isIapOnlyPattern(pattern: string): boolean {
  return pattern.startsWith('*@') && !PROJECT_WILDCARD.test(pattern);
}

/** Most decisions an allow-list remembers; all are forgotten when it is full (emails come only from verified tokens). */
const MAX_REMEMBERED_DECISIONS = 4096;

/**
 * Validates and compiles allow-list entries: exact emails, `*@PROJECT_ID.iam.gserviceaccount.com`,
 * `*@DOMAIN` (people of a domain, matched for IAP callers only), or `sub:DIGITS` (one account by
 * its numeric unique ID, matched for ID-token callers only).
 *
 * Why `*@DOMAIN` never matches an ID-token caller: anyone can create a Google account under any
 * email address they can receive mail at, and mint ID tokens with it for any audience, so a
 * domain says little about who holds such a token. IAP lets through only the principals its IAM
 * policy grants access, so there a domain only narrows an already vetted set.
 *
 * Why `sub:` never matches an IAP caller: IAP's subjects are `accounts.google.com:DIGITS` (or an
 * external identity's id), never bare digits; IAP callers always have an email to be matched by.
 *
 * Emails are ASCII, as Google's are: an entry with any other character is refused here, and an
 * email with one never matches (see `asciiLowerCase`).
 * @param at where the list comes from, for the error (`inbound.allowedCallers`, `@AllowedCallers()`).
 * @throws CloudRunAuthConfigError on an empty list or any other pattern.
 */
export function compileAllowList(patterns: unknown, at: string): CallerAllowList {
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new CloudRunAuthConfigError('must be a non-empty array of caller emails', at);
  }
  const exact = new Set<string>();
  const projects = new Set<string>();
  const peopleDomains = new Set<string>();
  const subjects = new Set<string>();
  for (const pattern of patterns) {
    if (typeof pattern !== 'string')
      throw new CloudRunAuthConfigError(`entries must be strings, got ${typeof pattern}`, at);
    const lower = asciiLowerCase(pattern);
    if (lower === undefined) {
      const index = nonAsciiIndex(pattern);
      const code = pattern.codePointAt(index)!.toString(16).toUpperCase().padStart(4, '0');
      throw new CloudRunAuthConfigError(
        `${describeAscii(pattern).slice(0, 100)} has a non-ASCII character (U+${code} at index ${index}): Google ` +
          'account emails are ASCII and are compared ASCII case-insensitively, so it could only match a look-alike',
        at,
      );
    }
    if (lower.startsWith(SUBJECT_PREFIX)) {
      const subject = SUBJECT_ENTRY.exec(pattern);
      if (!subject) {
        throw new CloudRunAuthConfigError(
          `${JSON.stringify(pattern).slice(0, 100)} is not "sub:" followed by the digits of a Google account's unique ID ` +
            '(1 to 64 of them, e.g. "sub:112233445566778899001": the "sub" claim of its ID tokens, a service ' +
            'account\'s "Unique ID")',
          at,
        );
      }
      subjects.add(subject[1]!);
      continue;
    }
    const project = PROJECT_WILDCARD.exec(lower);
    const domain = DOMAIN_WILDCARD.exec(lower);
    if (project && !project[1]!.startsWith('gcp-sa-')) {
      projects.add(lower.slice(2));
    } else if (domain && !UNOWNED_DOMAIN.test(domain[1]!)) {
      peopleDomains.add(domain[1]!);
    } else if (isEmail(lower)) {
      exact.add(lower);
    } else {
      throw new CloudRunAuthConfigError(
        `${JSON.stringify(pattern).slice(0, 100)} is neither an email address nor "*@PROJECT_ID.iam.gserviceaccount.com" ` +
          'nor "*@DOMAIN" (the users of one organisation\'s domain, for IAP callers) nor "sub:UNIQUE_ID"; broader ' +
          'wildcards would match identities of other projects or of any Google user',
        at,
      );
    }
  }
  const match = (email: string, iap: boolean): boolean => {
    const lower = asciiLowerCase(email);
    if (lower === undefined) return false;
    if (exact.has(lower)) return true;
    const at = lower.indexOf('@');
    if (at <= 0 || at !== lower.lastIndexOf('@')) return false;
    const domain = lower.slice(at + 1);
    return projects.has(domain) || (iap && peopleDomains.has(domain));
  };
  // Decisions are kept per email string, one map per source: a verified caller's identity, and so
  // its email string, is shared by all its requests, and a string caches its hash, so a repeat
  // costs one lookup instead of lowercasing, slicing and hashing anew.
  const idTokenDecisions = new Map<string, boolean>();
  const iapDecisions = new Map<string, boolean>();
  const matches = (email: string, source: CallerIdentity['source'] = 'id-token'): boolean => {
    // Anything but 'iap' is judged as an ID token: the narrower rules.
    const remembered = source === 'iap' ? iapDecisions : idTokenDecisions;
    let allowed = remembered.get(email);
    if (allowed === undefined) {
      allowed = match(email, remembered === iapDecisions);
      if (remembered.size >= MAX_REMEMBERED_DECISIONS) remembered.clear();
      remembered.set(email, allowed);
    }
    return allowed;
  };
  return {
    patterns: [
      ...exact,
      ...[...projects, ...peopleDomains].map((domain) => `*@${domain}`),
      ...[...subjects].map((subject) => `${SUBJECT_PREFIX}${subject}`),
    ],
    matches,
    allows({ source, email, subject }): boolean {
      // A set lookup of a string the identity shares with all its requests (its hash cached), and
      // only when the list names subjects: the email path stays as cheap as before.
      if (subjects.size > 0 && source !== 'iap' && subjects.has(subject)) return true;
      return email !== undefined && matches(email, source);
    },
  };
}
