import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { IAP_AUDIENCE, IAP_AUDIENCE_FORMS } from '../shared/options/iap-audience.rule.js';
import { isEmail } from '../shared/options/option.assertions.js';
import { STRIPPED_SIGNATURE } from '../shared/jwt/stripped-signature.js';
import { Certificates } from './certificates.js';
import { createMetadataServer } from './metadata-server.js';
import { idTokenClaims, uniqueIdOf } from './id-token.claims.js';
import { Principals } from './principals.js';
import {
  createIapSigningKey,
  recycleSigningKeys,
  reuseOrCreateSigningKey,
  signIapJwt,
  signJwt,
  toIapJwk,
  type SigningKey,
} from './signing-key.js';
import { handleTokenEndpoint, type EndpointContext } from './token-endpoints.js';
import {
  EMULATOR_DEFAULTS,
  type Emulator,
  type EmulatorOptions,
  type EndpointFailureOptions,
  type MintOptions,
  type RecordedRequest,
} from './emulator.interface.js';

// Names clients use for the metadata server (gcp-metadata tries the IP, then the FQDN with a dot).
const METADATA_HOSTS = ['metadata.google.internal', 'metadata.google.internal.', 'metadata', '169.254.169.254'];
/** IAP's JWKS and `{ kid: PEM }` paths, as on `https://www.gstatic.com`. */
const IAP_JWKS_PATH = '/iap/verify/public_key-jwk';
const IAP_PEM_PATH = '/iap/verify/public_key';
/** Where `serveIapAssertions` answers an IAP assertion for `?email=`: the emulator's own, not a Google path. */
const IAP_ASSERTION_PATH = '/iap/assertion';
/** IAP's assertions are valid for ten minutes. */
const IAP_ASSERTION_LIFETIME_SECONDS = 600;
/** What Cloud Run's metadata server reports as the default account's scopes. */
const METADATA_SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

interface Failure extends Required<Omit<EndpointFailureOptions, 'delayMs'>> {
  path: string;
  delayMs: number;
}

/**
 * Starts a local stand-in for Google's side of service-to-service auth (what it serves and which
 * requests it answers: {@link Emulator}), signing real RS256 tokens and ES256 IAP assertions with
 * keys generated at start. Binds to 127.0.0.1 only.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const email = options.serviceAccountEmail ?? EMULATOR_DEFAULTS.serviceAccountEmail;
  const lifetime = options.tokenLifetimeSeconds ?? EMULATOR_DEFAULTS.tokenLifetimeSeconds;
  const projectId = options.projectId ?? EMULATOR_DEFAULTS.projectId;
  const projectNumber = options.projectNumber ?? EMULATOR_DEFAULTS.projectNumber;
  const region = options.region ?? EMULATOR_DEFAULTS.region;
  const maxAge = options.certsMaxAgeSeconds ?? EMULATOR_DEFAULTS.certsMaxAgeSeconds;
  const maxRecorded = options.maxRecordedRequests ?? EMULATOR_DEFAULTS.maxRecordedRequests;
  if (!Number.isSafeInteger(maxRecorded) || maxRecorded < 0) {
    throw new RangeError(`maxRecordedRequests must be a whole number >= 0, got ${String(maxRecorded)}`);
  }
  if (!/^[1-9]\d{0,19}$/.test(projectNumber)) {
    throw new RangeError(`projectNumber must be a project number (digits), got ${JSON.stringify(projectNumber)}`);
  }
  if (!/^[a-z]+-[a-z]+\d+$/.test(region)) {
    throw new RangeError(`region must be a region name such as us-central1, got ${JSON.stringify(region)}`);
  }
  const iapAudience = options.iapAudience ?? `/projects/${projectNumber}/locations/${region}/services/emulator-service`;
  if (!IAP_AUDIENCE.test(iapAudience)) {
    throw new RangeError(`iapAudience must be ${IAP_AUDIENCE_FORMS}, got ${JSON.stringify(iapAudience)}`);
  }
  let keys: SigningKey[] = [reuseOrCreateSigningKey()];
  /** Every signing key this emulator made, recycled when it closes. */
  const signingKeys = [...keys];
  const iapKey = createIapSigningKey();
  let recorded: RecordedRequest[] = [];
  let failures: Failure[] = [];
  const sockets = new Set<Socket>();
  let allowedHosts = new Set<string>(); // filled once the port is known
  const certificates = new Certificates();

  const matches = (pattern: string, path: string) =>
    pattern.startsWith('/') ? path === pattern : path.endsWith('/' + pattern);

  const mint = (claims: Record<string, unknown> = {}, mintOptions: MintOptions = {}): string => {
    const iat = Math.floor(Date.now() / 1000);
    const who = typeof claims.email === 'string' ? claims.email : email;
    const payload: Record<string, unknown> = {
      ...idTokenClaims(who, 'https://service.emulator.run.app', iat, mintOptions.lifetimeSeconds ?? lifetime),
      ...claims,
    };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    const token = signJwt(keys[0]!, payload, mintOptions.header);
    return mintOptions.stripSignature ? `${token.slice(0, token.lastIndexOf('.'))}.${STRIPPED_SIGNATURE}` : token;
  };
  const mintIapAssertion: Emulator['mintIapAssertion'] = (claims = {}, mintOptions = {}) => {
    const iat = Math.floor(Date.now() / 1000);
    const who = typeof claims.email === 'string' ? claims.email : 'developer@example.com';
    const payload: Record<string, unknown> = {
      iss: 'https://cloud.google.com/iap',
      aud: iapAudience,
      sub: `accounts.google.com:${uniqueIdOf(who)}`,
      email: who,
      iat,
      exp: iat + (mintOptions.lifetimeSeconds ?? IAP_ASSERTION_LIFETIME_SECONDS),
      ...claims,
    };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    return signIapJwt(iapKey, payload, mintOptions.header);
  };
  /** An ID token for `who` as Google issues them: `sub` its unique id, `azp` that too unless given. */
  const mintFor: EndpointContext['mintIdToken'] = (who, audience, { includeEmail = true, azp } = {}) =>
    mint({
      aud: audience,
      sub: uniqueIdOf(who),
      azp: azp ?? uniqueIdOf(who),
      email: includeEmail ? who : undefined,
      email_verified: includeEmail ? true : undefined,
    });

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string>) => {
    res.writeHead(status, headers);
    res.end(body);
  };
  const notFound = (res: ServerResponse) => send(res, 404, 'Not Found\n', { 'Content-Type': 'text/html' });
  const certsHeaders = {
    'Content-Type': 'application/json; charset=UTF-8',
    'Cache-Control': `public, max-age=${maxAge}, must-revalidate, no-transform`,
  };

  const handle = (req: IncomingMessage, res: ServerResponse, url: URL, body: string): void => {
    const path = url.pathname;
    if (req.method === 'POST') {
      const answer = handleTokenEndpoint(path, req.headers, body, endpoints);
      if (!answer) return notFound(res);
      return send(res, answer.status, JSON.stringify(answer.json), {
        'Content-Type': 'application/json; charset=UTF-8',
      });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'Method Not Allowed\n', { 'Content-Type': 'text/html', Allow: 'GET, HEAD, POST' });
    }
    if (path === '/oauth2/v3/certs') return send(res, 200, JSON.stringify(certificates.jwks(keys)), certsHeaders);
    if (path === '/oauth2/v1/certs') {
      return send(res, 200, JSON.stringify(certificates.pemCertificates(keys)), certsHeaders);
    }
    if (path === IAP_JWKS_PATH) return send(res, 200, JSON.stringify({ keys: [toIapJwk(iapKey)] }), certsHeaders);
    if (path === IAP_ASSERTION_PATH && options.serveIapAssertions) {
      const who = url.searchParams.get('email') ?? '';
      if (!isEmail(who)) {
        const usage = `email must be the user's email address: ${IAP_ASSERTION_PATH}?email=alice@example.com\n`;
        return send(res, 400, usage, { 'Content-Type': 'text/plain' });
      }
      return send(res, 200, mintIapAssertion({ email: who }), {
        'Content-Type': 'text/plain',
        'Cache-Control': 'no-store',
      });
    }
    if (path === IAP_PEM_PATH) {
      const pem = iapKey.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      return send(res, 200, JSON.stringify({ [iapKey.kid]: pem }), certsHeaders);
    }
    const answer = metadata(url, req.headers);
    if (!answer) return notFound(res);
    send(res, answer.status, answer.body, {
      'Metadata-Flavor': 'Google',
      Server: 'Metadata Server for VM',
      'X-XSS-Protection': '0',
      'X-Frame-Options': 'SAMEORIGIN',
      ...answer.headers,
    });
  };

  const server = createServer((req, res) => {
    // A page whose name was rebound to 127.0.0.1 reaches this port with its own name as Host.
    if (!allowedHosts.has(req.headers.host?.toLowerCase() ?? '')) {
      res.writeHead(403, { 'Content-Type': 'text/plain', Connection: 'close' });
      return res.end('Forbidden: unexpected Host header\n');
    }
    const url = new URL(req.url ?? '/', 'http://metadata.google.internal');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      recorded.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { ...req.headers },
        body,
      });
      // Bounded: a long-running emulator (the CLI) must not keep every bearer token it saw.
      if (recorded.length > maxRecorded) recorded.shift();
      const failure = failures.find((f) => f.times > 0 && matches(f.path, url.pathname));
      if (!failure) return handle(req, res, url, body);
      failure.times -= 1;
      switch (failure.mode) {
        case 'error':
          return send(res, 503, 'Service Unavailable', { 'Content-Type': 'text/html', 'Metadata-Flavor': 'Google' });
        case 'garbage':
          return send(res, 200, '<html>definitely not a token</html>', {
            'Content-Type': 'text/html',
            'Metadata-Flavor': 'Google',
          });
        case 'hang':
          return; // never answered; close() destroys the socket
        case 'slow': {
          const timer = setTimeout(() => handle(req, res, url, body), failure.delayMs);
          res.on('close', () => clearTimeout(timer));
          return;
        }
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const own = ['127.0.0.1', 'localhost', '[::1]'];
  allowedHosts = new Set([
    ...own.map((host) => `${host}:${port}`),
    ...(port === 80 ? own : []), // the default port is left out of Host
    ...METADATA_HOSTS.flatMap((host) => [host, `${host}:${port}`]),
  ]);
  const url = `http://127.0.0.1:${port}`;
  const principals = new Principals(`${url}/token`, projectId);
  const endpoints: EndpointContext = { tokenUri: `${url}/token`, lifetime, principals, mintIdToken: mintFor };
  const metadata = createMetadataServer({
    email,
    projectId,
    projectNumber,
    region,
    instanceId: `00${randomBytes(31).toString('hex')}`,
    scopes: METADATA_SCOPES,
    lifetime,
    issueAccessToken: (who) => principals.issueAccessToken(who),
    identity: (audience, full) => mintFor(email, audience, { includeEmail: full }),
  });

  const select = (path?: string) => (path === undefined ? recorded : recorded.filter((r) => matches(path, r.path)));

  return {
    metadataHost: `127.0.0.1:${port}`,
    url,
    certsUrl: `${url}/oauth2/v3/certs`,
    pemCertsUrl: `${url}/oauth2/v1/certs`,
    iapCertsUrl: url + IAP_JWKS_PATH,
    iapPemKeysUrl: url + IAP_PEM_PATH,
    iapAudience,
    iapAssertionUrl: options.serveIapAssertions ? url + IAP_ASSERTION_PATH : undefined,
    serviceAccountEmail: email,
    tokenUri: `${url}/token`,
    stsUrl: `${url}/v1/token`,
    iamCredentialsUrl: url,
    createServiceAccountKey: (who = email) => principals.createServiceAccountKey(who),
    createUserCredentials: (who = 'developer@example.com') => principals.createUserCredentials(who),
    principalOf: (accessToken) => principals.principalOf(accessToken),
    get currentKid() {
      return keys[0]!.kid;
    },
    mintIdToken: mint,
    mintIapAssertion,
    rotateKeys({ dropPrevious = false } = {}) {
      const key = reuseOrCreateSigningKey();
      signingKeys.push(key);
      keys = dropPrevious ? [key] : [key, ...keys.slice(0, 2)];
      return key.kid;
    },
    requestCount: (path) => select(path).length,
    requests: (path) => [...select(path)],
    fail(path, { mode, times = 1, delayMs = 1000 }) {
      failures.push({ path, mode, times, delayMs });
    },
    reset() {
      recorded = [];
      failures = [];
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) =>
        server.close(() => {
          recycleSigningKeys(signingKeys.splice(0));
          resolve();
        }),
      );
    },
  };
}
