interface Entry<T> {
  /** The full token: a lookup by key is a hit only for this very token. */
  token: string;
  value: T;
  expiresAtMs: number;
  /** When it was last put at the most recent end, counted in such moves. */
  position: number;
}

/**
 * Characters of a token's end used as its map key. A signed token ends with its signature
 * (342 base64url characters for RS256 with a 2048-bit key), whose last 43 characters carry
 * over 250 bits of it: in practice different for every signature. Hashing them is much cheaper
 * than hashing the ~1 KB token. A hit still requires the full token to be equal.
 */
const KEY_LENGTH = 43;

/**
 * A bounded LRU of verification results for tokens, each entry valid until the token's `exp`:
 * a caller that reuses its token (as Google's clients do for an hour) costs a map lookup
 * instead of an RSA verification. A hit on one of the newest quarter of entries leaves it in
 * place (re-inserting costs more than the lookup, and such an entry is far from eviction), so
 * the order is that of the last insertion or move, close to the exact LRU order.
 *
 * Entries are keyed by the token's last characters (see {@link KEY_LENGTH}) and confirmed by
 * comparing the full token, so two tokens that share an ending never answer for each other;
 * they only take each other's place. Tokens ending in `sharedSuffix` (Cloud Run's stripped
 * signature marker, the same for every token) are keyed in full.
 */
export class VerifiedTokenCache<T> {
  // A Map iterates in insertion order: re-inserting on a hit makes the first key the least recent.
  private readonly entries = new Map<string, Entry<T>>();
  /** Moves to the most recent end so far. */
  private moves = 0;
  /** A hit on an entry moved less than this many moves ago leaves it in place; 0 (exact LRU) below 4 entries. */
  private readonly recentMoves: number;

  /**
   * @param maxEntries Most entries kept; 0 disables caching.
   * @param sharedSuffix An ending that many tokens share; such tokens are keyed in full.
   */
  constructor(
    private readonly maxEntries: number,
    private readonly sharedSuffix = '',
  ) {
    this.recentMoves = maxEntries >> 2;
  }

  /** Number of entries held (expired ones included until they are looked up or evicted). */
  get size(): number {
    return this.entries.size;
  }

  /** The cached value for `token` if it has not expired at `nowMs`. */
  get(token: string, nowMs: number): T | undefined {
    const key = this.keyOf(token);
    const entry = this.entries.get(key);
    if (entry === undefined || entry.token !== token) return undefined;
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

  /** Stores `value` until `expiresAtMs`, evicting the least recently used (or moved) entry when full. */
  set(token: string, value: T, expiresAtMs: number): void {
    if (this.maxEntries === 0) return;
    const key = this.keyOf(token);
    this.entries.delete(key);
    this.entries.set(key, { token, value, expiresAtMs, position: ++this.moves });
    if (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
  }

  private keyOf(token: string): string {
    return token.length <= KEY_LENGTH || (this.sharedSuffix !== '' && token.endsWith(this.sharedSuffix))
      ? token
      : token.slice(-KEY_LENGTH);
  }
}
