interface Entry<T> {
  value: T;
  expiresAtMs: number;
}

/**
 * A bounded LRU of verification results keyed by the full token string, each entry valid until
 * the token's `exp`: a caller that reuses its token (as Google's clients do for an hour) costs
 * a map lookup instead of an RSA verification.
 */
export class VerifiedTokenCache<T> {
  // A Map iterates in insertion order: re-inserting on a hit makes the first key the least recent.
  private readonly entries = new Map<string, Entry<T>>();

  /** @param maxEntries Most entries kept; 0 disables caching. */
  constructor(private readonly maxEntries: number) {}

  /** Number of entries held (expired ones included until they are looked up or evicted). */
  get size(): number {
    return this.entries.size;
  }

  /** The cached value for `token` if it has not expired at `nowMs`. */
  get(token: string, nowMs: number): T | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    if (nowMs >= entry.expiresAtMs) return undefined;
    this.entries.set(token, entry);
    return entry.value;
  }

  /** Stores `value` until `expiresAtMs`, evicting the least recently used entry when full. */
  set(token: string, value: T, expiresAtMs: number): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(token);
    this.entries.set(token, { value, expiresAtMs });
    if (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  /** Drops every entry. */
  clear(): void {
    this.entries.clear();
  }
}
