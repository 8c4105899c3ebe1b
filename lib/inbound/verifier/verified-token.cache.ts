interface Entry<T> {
  /**
   * The text the token was last found in (a copy of the token itself, or a header value with at
   * most {@link MAX_ADOPTED_PREFIX} characters before the token), and where in it the token
   * starts: a lookup by key is a hit only for this very token, `text.slice(offset)`.
   */
  text: string;
  offset: number;
  value: T;
  expiresAtMs: number;
  /** When it was last put at the most recent end, counted in such moves. */
  position: number;
}

/**
 * Characters of a token's end its map key is computed from. A signed token ends with its
 * signature (342 base64url characters for RS256 with a 2048-bit key), whose last 16 characters
 * carry 96 bits of it: in practice different for every signature. A small integer hash of them
 * is a cheaper key than any string (no slice to allocate and hash), and two tokens with the
 * same key only take each other's place: a hit still requires the full token to be equal.
 */
const KEY_LENGTH = 16;

/**
 * Longest text before a token that an entry keeps with it: `Bearer `, the header every client
 * sends. A hit in such a header value keeps that value, so that the next request's header is
 * compared whole; any other header (RFC 6750 allows more spaces) is compared through a slice
 * and never kept, so that an entry holds at most the token and these few characters, whatever
 * a header carried.
 */
const MAX_ADOPTED_PREFIX = 7;

/**
 * A bounded LRU of verification results for tokens, each entry valid until the token's `exp`:
 * a caller that reuses its token (as Google's clients do for an hour) costs a map lookup
 * instead of an RSA verification. A hit on one of the newest quarter of entries leaves it in
 * place (re-inserting costs more than the lookup, and such an entry is far from eviction), so
 * the order is that of the last insertion or move, close to the exact LRU order.
 *
 * Entries are keyed by a hash of the token's last characters (see {@link KEY_LENGTH}) and confirmed by
 * comparing the full token, so two tokens that share an ending never answer for each other;
 * they only take each other's place. Tokens ending in `sharedSuffix` (Cloud Run's stripped
 * signature marker, the same for every token) are keyed in full.
 */
export class VerifiedTokenCache<T> {
  // A Map iterates in insertion order: re-inserting on a hit makes the first key the least recent.
  private readonly entries = new Map<number | string, Entry<T>>();
  /** Moves to the most recent end so far. */
  private moves = 0;
  /** A hit on an entry moved less than this many moves ago leaves it in place; 0 (exact LRU) below 4 entries. */
  private readonly recentMoves: number;
  /** The hash of `sharedSuffix`'s end: only a token with this hash can end with it, so others skip the comparison. */
  private readonly sharedHash: number | undefined;

  /**
   * @param maxEntries Most entries kept; 0 disables caching.
   * @param sharedSuffix An ending that many tokens share, at least 16 characters; such tokens are keyed in full.
   */
  constructor(
    private readonly maxEntries: number,
    private readonly sharedSuffix = '',
  ) {
    this.recentMoves = maxEntries >> 2;
    if (sharedSuffix !== '' && sharedSuffix.length < KEY_LENGTH) {
      throw new RangeError(`a shared suffix must have at least ${KEY_LENGTH} characters`);
    }
    this.sharedHash = sharedSuffix === '' ? undefined : endHash(sharedSuffix, sharedSuffix.length);
  }

  /** Number of entries held (expired ones included until they are looked up or evicted). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The cached value for the token `text.slice(offset)` if it has not expired at `nowMs`. With an
   * offset (a token inside a header value), nothing is sliced: slices are costly to read and compare.
   */
  get(text: string, nowMs: number, offset = 0): T | undefined {
    const key = this.keyOf(text, offset);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    // The text the token was last found in, again: two whole strings compare in one step, where
    // a slice is compared by a slower route (and must be made first).
    if (offset !== entry.offset || text !== entry.text) {
      // A slice and === compare the bytes at once (endsWith compares one character at a time).
      if (tokenIn(text, offset) !== tokenIn(entry.text, entry.offset)) return undefined;
      // Only a header value: a bare token given here may be a slice of anything.
      if (offset > 0 && offset <= MAX_ADOPTED_PREFIX) {
        entry.text = text;
        entry.offset = offset;
      }
    }
    if (nowMs >= entry.expiresAtMs) {
      this.entries.delete(key);
      return undefined;
    }
    if (this.moves - entry.position >= this.recentMoves) {
      this.entries.delete(key);
      entry.position = ++this.moves;
      this.entries.set(key, entry);
    }
    return entry.value;
  }

  /**
   * Stores `value` until `expiresAtMs`, evicting the least recently used (or moved) entry when
   * full. The entry keeps a copy of `token`: a token sliced out of a header is a view that keeps
   * the whole header alive.
   */
  set(token: string, value: T, expiresAtMs: number): void {
    if (this.maxEntries === 0) return;
    const text = ownCopy(token);
    // From the copy: a token keyed in full is its own map key.
    const key = this.keyOf(text);
    this.entries.delete(key);
    this.entries.set(key, { text, offset: 0, value, expiresAtMs, position: ++this.moves });
    if (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
  }

  /** The map key of the token `text.slice(offset)`. */
  private keyOf(text: string, offset = 0): number | string {
    const length = text.length;
    if (length - offset > KEY_LENGTH) {
      const hash = endHash(text, length);
      if (hash !== this.sharedHash || !text.endsWith(this.sharedSuffix)) return hash;
    }
    return offset === 0 ? text : text.slice(offset);
  }
}

/**
 * `text` in a string of its own. V8 makes a slice of a long string a view of it (kept alive by
 * the view); slicing a concatenation first flattens it into a new string, of which the result is
 * the view: one copy, no larger than `text` plus a character.
 */
function ownCopy(text: string): string {
  return ` ${text}`.slice(1);
}

/** The token that starts at `offset` in `text`. */
function tokenIn(text: string, offset: number): string {
  return offset === 0 ? text : text.slice(offset);
}

/** FNV-1a over the KEY_LENGTH characters before `end`, kept within a small integer (31 bits). */
function endHash(text: string, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = end - KEY_LENGTH; i < end; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash & 0x3fffffff;
}
