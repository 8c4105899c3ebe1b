import { parseArgs } from 'node:util';
import { IAP_AUDIENCE, IAP_AUDIENCE_FORMS } from '../shared/options/iap-audience.rule.js';
import { EMULATOR_DEFAULTS } from '../testing/emulator.interface.js';

/** Options of the `cloud-run-auth-emulator` command, after validation. */
export interface EmulatorCliOptions {
  port: number;
  serviceAccountEmail: string;
  tokenLifetimeSeconds: number;
  projectId: string;
  /** The `aud` of IAP assertions, given with `--iap-audience`; with it, the emulator serves them over HTTP. */
  iapAudience: string | undefined;
  json: boolean;
  help: boolean;
}

/** A command line the emulator cannot run with; the message is meant for the user. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const DEFAULT_PORT = 8090;
export const DEFAULT_SERVICE_ACCOUNT = EMULATOR_DEFAULTS.serviceAccountEmail;
export const DEFAULT_TOKEN_LIFETIME_SECONDS = EMULATOR_DEFAULTS.tokenLifetimeSeconds;
export const DEFAULT_PROJECT_ID = EMULATOR_DEFAULTS.projectId;

export const USAGE = `Usage: cloud-run-auth-emulator [options]

Runs a local stand-in for Google's side of Cloud Run service-to-service auth on 127.0.0.1:
a metadata server that hands out real RS256-signed ID tokens, the certificate endpoints
(JWKS and X.509 PEM) to verify them with, and Google's OAuth token, STS and IAM Credentials
endpoints. Writes a service-account key for it to a temporary file, removed when it stops.
Stops on Ctrl-C or SIGTERM.

Options:
  -p, --port <port>                TCP port on 127.0.0.1; 0 picks a free one   (default ${DEFAULT_PORT})
  -e, --service-account <email>    identity the metadata server hands out
                                   (default ${DEFAULT_SERVICE_ACCOUNT})
  -l, --token-lifetime <seconds>   lifetime of minted ID tokens               (default ${DEFAULT_TOKEN_LIFETIME_SECONDS})
      --project-id <id>            project id the metadata server reports     (default ${DEFAULT_PROJECT_ID})
      --iap-audience <audience>    also stand in for Identity-Aware Proxy: sign assertions with this aud,
                                   one per GET /iap/assertion?email=EMAIL (for curl)
                                   /projects/NUMBER/locations/REGION/services/NAME or
                                   /projects/NUMBER/global/backendServices/ID
      --json                       print the addresses as one JSON line instead of text
  -h, --help                       show this help

Then, in the shell that runs your service:
  export GCE_METADATA_HOST=127.0.0.1:<port>      # ID tokens come from the emulator (every client library)
  export GCE_METADATA_IP=127.0.0.1:<port>        # also for Python, whose availability check uses it
  inbound.certsUrl = http://127.0.0.1:<port>/oauth2/v3/certs   # the guard verifies with its keys
or, for key-based flows, GOOGLE_APPLICATION_CREDENTIALS=<the key file it prints>.
`;

/** Parses and validates the command line (without `node` and the script path). */
export function parseEmulatorArgs(argv: readonly string[]): EmulatorCliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string', short: 'p' },
        'service-account': { type: 'string', short: 'e' },
        'token-lifetime': { type: 'string', short: 'l' },
        'project-id': { type: 'string' },
        'iap-audience': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    // parseArgs' own messages are clear ("Unknown option '--x'", "Option '-p, --port <value>' argument missing").
    throw new UsageError((error as Error).message);
  }
  const port = integer(values.port, '--port', DEFAULT_PORT, 0, 65535);
  const tokenLifetimeSeconds = integer(
    values['token-lifetime'],
    '--token-lifetime',
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    1,
    86400,
  );
  const serviceAccountEmail = (values['service-account'] as string | undefined) ?? DEFAULT_SERVICE_ACCOUNT;
  if (!/^[^\s@]+@[^\s@]+$/.test(serviceAccountEmail)) {
    throw new UsageError(`--service-account must be an email address, got ${JSON.stringify(serviceAccountEmail)}`);
  }
  const projectId = (values['project-id'] as string | undefined) ?? DEFAULT_PROJECT_ID;
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(projectId)) {
    throw new UsageError(
      `--project-id must be a project id (lowercase letters, digits, hyphens), got ${JSON.stringify(projectId)}`,
    );
  }
  const iapAudience = values['iap-audience'] as string | undefined;
  if (iapAudience !== undefined && !IAP_AUDIENCE.test(iapAudience)) {
    throw new UsageError(`--iap-audience must be ${IAP_AUDIENCE_FORMS}, got ${JSON.stringify(iapAudience)}`);
  }
  return {
    port,
    serviceAccountEmail,
    tokenLifetimeSeconds,
    projectId,
    iapAudience,
    json: values.json === true,
    help: values.help === true,
  };
}

function integer(raw: string | boolean | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
