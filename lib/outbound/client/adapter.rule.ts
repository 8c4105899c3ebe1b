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
