import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { isEmail } from '../shared/options/option.assertions.js';
import type { CallerSource } from './verifier/caller-identity.interface.js';

/** A compiled caller allow-list. */
export interface CallerAllowList {
  /** The patterns, lowercased, as given. */
  readonly patterns: readonly string[];
  /**
   * Whether `email` is allowed (case-insensitive), for a caller whose identity came from
   * `source`: `*@DOMAIN` patterns of people's domains match IAP callers only.
   * @param source @default 'id-token'
   */
  matches(email: string, source?: CallerSource): boolean;
}

// One project's user-managed service accounts. Shared domains (developer.gserviceaccount.com,
// appspot.gserviceaccount.com, gcp-sa-*.iam..., gmail.com) would admit other projects' or users' identities.
const PROJECT_WILDCARD = /^\*@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/;
// All users of one domain: for IAP callers only (see compileAllowList).
const DOMAIN_WILDCARD = /^\*@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$/;
// Domains that name no organisation (any Google user, any project's service accounts), and look-alikes of them.
const UNOWNED_DOMAIN = /(?:^|\.)(?:gserviceaccount|gmail|googlemail)\.com(?:\.|$)/;

/** Whether an allow-list pattern is a `*@DOMAIN` of people, which matches IAP callers only. */
export function isIapOnlyPattern(pattern: string): boolean {
  return pattern.startsWith('*@') && !PROJECT_WILDCARD.test(pattern);
}

/** Most decisions an allow-list remembers; all are forgotten when it is full (emails come only from verified tokens). */
const MAX_REMEMBERED_DECISIONS = 4096;

/**
 * Validates and compiles allow-list entries: exact emails, `*@PROJECT_ID.iam.gserviceaccount.com`,
 * or `*@DOMAIN` (people of a domain, matched for IAP callers only).
 *
 * Why `*@DOMAIN` never matches an ID-token caller: anyone can create a Google account under any
 * email address they can receive mail at, and mint ID tokens with it for any audience, so a
 * domain says little about who holds such a token. IAP lets through only the principals its IAM
 * policy grants access, so there a domain only narrows an already vetted set.
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
  for (const pattern of patterns) {
    if (typeof pattern !== 'string')
      throw new CloudRunAuthConfigError(`entries must be strings, got ${typeof pattern}`, at);
    const lower = pattern.toLowerCase();
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
          'nor "*@DOMAIN" (the users of one organisation\'s domain, for IAP callers); broader wildcards would ' +
          'match identities of other projects or of any Google user',
        at,
      );
    }
  }
  const match = (email: string, iap: boolean): boolean => {
    const lower = email.toLowerCase();
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
  return {
    patterns: [...exact, ...[...projects, ...peopleDomains].map((domain) => `*@${domain}`)],
    matches(email: string, source: CallerSource = 'id-token'): boolean {
      // Anything but 'iap' is judged as an ID token: the narrower rules.
      const remembered = source === 'iap' ? iapDecisions : idTokenDecisions;
      let allowed = remembered.get(email);
      if (allowed === undefined) {
        allowed = match(email, remembered === iapDecisions);
        if (remembered.size >= MAX_REMEMBERED_DECISIONS) remembered.clear();
        remembered.set(email, allowed);
      }
      return allowed;
    },
  };
}
