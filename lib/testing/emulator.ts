import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createSigningKey, signJwt, toJwk, type SigningKey } from './signing-key.js';
import { TokenEndpoints } from './token-endpoints.js';
import {
  EMULATOR_DEFAULTS,
  type Emulator,
  type EmulatorOptions,
  type FailOptions,
  type MintOptions,
  type RecordedRequest,
} from './emulator.interface.js';

const SA_PREFIX = '/computeMetadata/v1/instance/service-accounts/';
// Names clients use for the metadata server (gcp-metadata tries the IP, then the FQDN with a dot).
const METADATA_HOSTS = ['metadata.google.internal', 'metadata.google.internal.', 'metadata', '169.254.169.254'];
const STRIPPED_SIGNATURE = 'SIGNATURE_REMOVED_BY_GOOGLE';

interface Failure extends Required<Omit<FailOptions, 'delayMs'>> {
  path: string;
  delayMs: number;
}

/**
 * Starts a local stand-in for Google's side of service-to-service auth: the GCE/Cloud Run
 * metadata server (identity, token, email, project-id) and the JWKS/PEM certificate endpoints,
 * signing real RS256 tokens with keys generated at start. Binds to 127.0.0.1 only, and refuses
 * requests addressed to another host name (see {@link Emulator}).
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const email = options.serviceAccountEmail ?? EMULATOR_DEFAULTS.serviceAccountEmail;
  const lifetime = options.tokenLifetimeSeconds ?? EMULATOR_DEFAULTS.tokenLifetimeSeconds;
  const projectId = options.projectId ?? EMULATOR_DEFAULTS.projectId;
  const maxAge = options.certsMaxAgeSeconds ?? EMULATOR_DEFAULTS.certsMaxAgeSeconds;
  const maxRecorded = options.maxRecordedRequests ?? EMULATOR_DEFAULTS.maxRecordedRequests;
  if (!Number.isSafeInteger(maxRecorded) || maxRecorded < 0) {
    throw new RangeError(`maxRecordedRequests must be a whole number >= 0, got ${String(maxRecorded)}`);
  }
  // A stable numeric subject per email, like Google's unique id.
  const subjectOf = (who: string) =>
    BigInt('0x' + Buffer.from(who).toString('hex').slice(0, 26).padEnd(26, '0'))
      .toString()
      .slice(0, 21);

  let keys: SigningKey[] = [createSigningKey()];
  let recorded: RecordedRequest[] = [];
  let failures: Failure[] = [];
  const sockets = new Set<Socket>();
  let allowedHosts = new Set<string>(); // filled once the port is known

  const matches = (pattern: string, path: string) =>
    pattern.startsWith('/') ? path === pattern : path.endsWith('/' + pattern);

  const mint = (claims: Record<string, unknown> = {}, mintOptions: MintOptions = {}): string => {
    const iat = Math.floor(Date.now() / 1000);
    const who = typeof claims.email === 'string' ? claims.email : email;
    const payload: Record<string, unknown> = {
      iss: 'https://accounts.google.com',
      aud: 'https://service.emulator.run.app',
      azp: subjectOf(who),
      sub: subjectOf(who),
      email,
      email_verified: true,
      iat,
      exp: iat + (mintOptions.lifetimeSeconds ?? lifetime),
      ...claims,
    };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    const token = signJwt(keys[0]!, payload, mintOptions.header);
    return mintOptions.stripSignature ? `${token.slice(0, token.lastIndexOf('.'))}.${STRIPPED_SIGNATURE}` : token;
  };

  const send = (
    res: ServerResponse,
    status: number,
    body: string,
    type = 'application/text',
    extra: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'Content-Type': type, 'Metadata-Flavor': 'Google', ...extra });
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, url: URL, body: string): void => {
    const path = url.pathname;
    if (req.method === 'POST') {
      const answer = endpoints.handle(path, req.headers, body);
      if (answer) return send(res, answer.status, JSON.stringify(answer.json), 'application/json; charset=utf-8');
      return send(res, 404, 'Not Found', 'text/html');
    }
    if (path === '/oauth2/v3/certs') {
      return send(res, 200, JSON.stringify({ keys: keys.map(toJwk) }), 'application/json', {
        'Cache-Control': `public, max-age=${maxAge}, must-revalidate, no-transform`,
      });
    }
    if (path === '/oauth2/v1/certs') {
      const pems = Object.fromEntries(
        keys.map((k) => [k.kid, k.publicKey.export({ type: 'spki', format: 'pem' }).toString()]),
      );
      return send(res, 200, JSON.stringify(pems), 'application/json', {
        'Cache-Control': `public, max-age=${maxAge}, must-revalidate, no-transform`,
      });
    }
    if (!path.startsWith('/computeMetadata/')) return send(res, 404, 'Not Found', 'text/html');
    // The real metadata server refuses requests without the flavor header or that look proxied.
    if (req.headers['metadata-flavor'] !== 'Google' || req.headers['x-forwarded-for']) {
      return send(res, 403, 'Missing Metadata-Flavor:Google header.', 'text/html');
    }
    if (path === '/computeMetadata/v1/project/project-id') return send(res, 200, projectId);
    if (
      path === '/computeMetadata/v1/instance' ||
      path === '/computeMetadata/v1/instance/' ||
      path === '/computeMetadata/v1/'
    ) {
      return send(res, 200, 'service-accounts/\n');
    }
    if (path.startsWith(SA_PREFIX)) {
      const [account, leaf] = path.slice(SA_PREFIX.length).split('/');
      if (account !== 'default' && account !== email) return send(res, 404, 'Not Found', 'text/html');
      if (leaf === 'email') return send(res, 200, email);
      if (leaf === 'token') {
        const token = endpoints.issueAccessToken(email);
        return send(
          res,
          200,
          JSON.stringify({ access_token: token, expires_in: lifetime - 1, token_type: 'Bearer' }),
          'application/json',
        );
      }
      if (leaf === 'identity') {
        const audience = url.searchParams.get('audience');
        if (!audience) return send(res, 400, 'non-empty audience parameter required', 'text/html');
        const full = url.searchParams.get('format') === 'full';
        const token = mint({ aud: audience, ...(full ? {} : { email: undefined, email_verified: undefined }) });
        return send(res, 200, token);
      }
    }
    return send(res, 404, 'Not Found', 'text/html');
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
          return send(res, 503, 'Service Unavailable', 'text/html');
        case 'garbage':
          return send(res, 200, '<html>definitely not a token</html>', 'text/html');
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
  const endpoints = new TokenEndpoints({ url, projectId, lifetime, mint });

  const select = (path?: string) => (path === undefined ? recorded : recorded.filter((r) => matches(path, r.path)));

  return {
    metadataHost: `127.0.0.1:${port}`,
    url,
    certsUrl: `${url}/oauth2/v3/certs`,
    pemCertsUrl: `${url}/oauth2/v1/certs`,
    serviceAccountEmail: email,
    tokenUri: `${url}/token`,
    stsUrl: `${url}/v1/token`,
    iamCredentialsUrl: url,
    createServiceAccountKey: (who = email) => endpoints.createServiceAccountKey(who),
    createUserCredentials: (who = 'developer@example.com') => endpoints.createUserCredentials(who),
    principalOf: (accessToken) => endpoints.principalOf(accessToken),
    get currentKid() {
      return keys[0]!.kid;
    },
    mintIdToken: mint,
    rotateKeys({ dropPrevious = false } = {}) {
      const key = createSigningKey();
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
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
