import { cloudRunVariable } from './cloud-run.env.js';

/** How a developer starts the emulator: the package's `bin`. */
export const EMULATOR_COMMAND = 'npx cloud-run-auth-emulator';

/** How deep in an error's causes a refusal is looked for. */
const MAX_CAUSE_DEPTH = 5;

/**
 * Where a connection to this machine was refused, as `host:port` (`127.0.0.1:8090`,
 * `[::1]:8090`): an `ECONNREFUSED` to a loopback address (127.0.0.0/8, ::1) in `error` or its
 * causes. A host name that resolved to several addresses (`localhost`) counts when all refused.
 * `undefined` for any other failure.
 */
function refusedLoopbackAddress(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < MAX_CAUSE_DEPTH; depth++) {
    const { errors } = current as { errors?: unknown };
    if (Array.isArray(errors) && errors.length > 0) {
      const addresses = errors.map(refusedHere);
      if (addresses.every((address) => address !== undefined)) return addresses[0];
    }
    const address = refusedHere(current);
    if (address) return address;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The advice for a connection refused on this machine, off Cloud Run: `nothing is listening at
 * <host:port> — is the emulator running? (`npx cloud-run-auth-emulator`)`. A loopback endpoint
 * that refuses is a stopped emulator, and will not start while a request retries, so callers
 * fail at once with this instead of retrying. `undefined` on Cloud Run (`K_SERVICE` or
 * `CLOUD_RUN_JOB` set in `env`), where the Cloud Run advice applies, and for any other failure.
 * @param env the environment that tells Cloud Run apart. @default process.env
 */
export function localEmulatorHint(error: unknown, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (cloudRunVariable(env)) return undefined;
  const address = refusedLoopbackAddress(error);
  return address && `nothing is listening at ${address} — is the emulator running? (\`${EMULATOR_COMMAND}\`)`;
}

function refusedHere(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const { code, address, port } = error as { code?: unknown; address?: unknown; port?: unknown };
  if (code !== 'ECONNREFUSED' || typeof address !== 'string' || !isLoopbackAddress(address)) return undefined;
  const host = address.includes(':') ? `[${address}]` : address;
  return typeof port === 'number' ? `${host}:${port}` : host;
}

/** 127.0.0.0/8 (also IPv4-mapped) and ::1: addresses that never leave this machine. */
function isLoopbackAddress(address: string): boolean {
  return /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(address) || address === '::1';
}
