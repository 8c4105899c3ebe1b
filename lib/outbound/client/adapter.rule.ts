import axios from 'axios';

/**
 * Why an axios `adapter` setting must not carry ID tokens, or `undefined` when it may. Only the
 * Node http adapter lets the interceptor strip the token from a redirect to another origin
 * (`beforeRedirect`); the fetch adapter follows redirects inside undici with every header kept.
 * A function adapter of the application's own (a test double, a transport) is its own concern.
 */
export function adapterRefusal(adapter: unknown): string | undefined {
  if (adapter === undefined) return undefined;
  let resolved: unknown;
  try {
    resolved = axios.getAdapter(adapter as Parameters<typeof axios.getAdapter>[0]);
  } catch {
    return 'is not an adapter axios can use here';
  }
  if (resolved === axios.getAdapter('http')) return undefined;
  if (typeof adapter === 'function' && resolved !== axios.getAdapter('fetch')) return undefined;
  return (
    'follows redirects itself, so an ID token could follow one to another origin; ' +
    "use axios' http adapter (the default in Node) for calls that carry tokens"
  );
}

/**
 * {@link adapterRefusal} for one service's requests, which nearly always carry axios' default
 * adapter list: the last answer is kept, for the same value with the same entries (a list can be
 * changed in place).
 */
export class AdapterCheck {
  private adapter: unknown;
  private entries: unknown[] | undefined;
  private refusal: string | undefined;

  /** Why `adapter` must not carry ID tokens, or `undefined` when it may. */
  refusalOf(adapter: unknown): string | undefined {
    if (adapter === undefined) return undefined;
    if (adapter === this.adapter && sameEntries(adapter, this.entries)) return this.refusal;
    this.refusal = adapterRefusal(adapter);
    this.adapter = adapter;
    this.entries = Array.isArray(adapter) ? [...(adapter as unknown[])] : undefined;
    return this.refusal;
  }
}

function sameEntries(adapter: unknown, entries: unknown[] | undefined): boolean {
  if (!Array.isArray(adapter)) return true;
  if (entries === undefined || adapter.length !== entries.length) return false;
  for (let i = 0; i < entries.length; i++) if (adapter[i] !== entries[i]) return false;
  return true;
}
