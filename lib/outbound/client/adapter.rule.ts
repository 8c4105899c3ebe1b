import axios from 'axios';

/**
 * Why an axios `adapter` setting must not carry ID tokens, or `undefined` when it may. Only the
 * Node http adapter lets the interceptor strip the token from a redirect to another origin
 * (`beforeRedirect`); the fetch adapter follows redirects inside undici with every header kept.
 * A function adapter of the application's own (a test double, a transport) is its own concern.
 */
export function adapterRefusal(adapter: unknown): string | undefined {
  if (adapter === undefined) return undefined;
  // Asked on every request, nearly always with axios' default list: the last answer is kept, for
  // the same value with the same entries (a list can be changed in place).
  if (adapter === last.adapter && sameEntries(adapter, last.entries)) return last.refusal;
  const refusal = decide(adapter);
  last = { adapter, entries: Array.isArray(adapter) ? [...(adapter as unknown[])] : undefined, refusal };
  return refusal;
}

let last: { adapter: unknown; entries: unknown[] | undefined; refusal: string | undefined } = {
  adapter: undefined,
  entries: undefined,
  refusal: undefined,
};

function sameEntries(adapter: unknown, entries: unknown[] | undefined): boolean {
  if (!Array.isArray(adapter)) return true;
  if (entries === undefined || adapter.length !== entries.length) return false;
  for (let i = 0; i < entries.length; i++) if (adapter[i] !== entries[i]) return false;
  return true;
}

function decide(adapter: unknown): string | undefined {
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
