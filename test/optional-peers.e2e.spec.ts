import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The built package where the optional peers are not installed: a child process in which they
 * cannot be resolved (test/fixtures/hide-optional-peers.mjs) loads dist/ and serves and calls a
 * guarded app over real HTTP (test/fixtures/without-optional-peers.mjs). Needs `npm run build`.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(root, 'test', 'fixtures');
const PEERS = [
  '@nestjs/graphql',
  '@nestjs/apollo',
  '@nestjs/mercurius',
  '@nestjs/microservices',
  '@grpc/grpc-js',
  '@nestjs/terminus',
  '@opentelemetry/api',
];

function runWithoutOptionalPeers(mode: 'esm' | 'cjs'): Record<string, unknown> {
  const stdout = execFileSync(
    process.execPath,
    ['--import', join(fixtures, 'hide-optional-peers.mjs'), join(fixtures, 'without-optional-peers.mjs'), mode],
    { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: 30_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('without the optional peers (GraphQL, gRPC, microservices, terminus, OpenTelemetry)', () => {
  it('they are installed here: the child hides them', () => {
    const require = createRequire(join(root, 'package.json'));
    for (const name of PEERS) expect(() => require.resolve(name), name).not.toThrow();
  });

  it.each(['esm', 'cjs'] as const)(
    '%s build: loads, guards (401 without a token), and a ServiceClient gets 200 with a token from the emulator',
    (mode) => {
      const result = runWithoutOptionalPeers(mode);
      const hidden = result.hidden as Record<string, string[]>;
      for (const name of PEERS) expect(hidden[name], name).toEqual(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND']);
      expect(result).toMatchObject({
        withToken: { status: 200, body: { email: 'caller@emulator-project.iam.gserviceaccount.com' } },
        withoutToken: 401,
        metadataFetches: 1,
        // nestjs-cloud-run-auth/grpc and /terminus are for grpc-js and terminus users, and say so by needing them.
        grpcEntry: mode === 'esm' ? 'ERR_MODULE_NOT_FOUND' : 'MODULE_NOT_FOUND',
        terminusEntry: mode === 'esm' ? 'ERR_MODULE_NOT_FOUND' : 'MODULE_NOT_FOUND',
        // Telemetry is on by default when @opentelemetry/api is there; asked for explicitly without it, boot says so.
        telemetryWarnings: [
          'telemetry.enabled is true but @opentelemetry/api cannot be loaded: no metrics or spans are recorded',
        ],
        grpcBoot:
          "CloudRunAuthConfigError at services[inventory].transport: is 'grpc', which needs the optional peer " +
          '@grpc/grpc-js: npm install @grpc/grpc-js',
      });
    },
  );
});

/** Module specifiers a built file loads when it is itself loaded: top-level imports and requires, not import(). */
function staticImports(source: string): string[] {
  const patterns = [
    /^(?:import|export)\s(?:[^'";]*?\sfrom\s)?['"]([^'"]+)['"]/gm, // ESM, side-effect imports included
    /^(?:(?:const|var|let) \w+ = |__exportStar\()?(?:__importStar\(|__importDefault\()?require\(['"]([^'"]+)['"]\)/gm, // tsc's CommonJS
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1]!));
}

/** Every package the files statically reachable from `entry` load, with the file that loads it. */
function staticPackages(entry: string): Map<string, string> {
  const packages = new Map<string, string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const specifier of staticImports(readFileSync(join(root, file), 'utf8'))) {
      if (specifier.startsWith('.')) visit(posix.join(posix.dirname(file), specifier));
      else if (!packages.has(specifier)) packages.set(specifier, file);
    }
  };
  visit(entry);
  return packages;
}

describe('the built entry points load the optional peers only where they are needed', () => {
  const OPTIONAL = /^(@nestjs\/(graphql|apollo|mercurius|microservices|terminus)|@grpc\/|@opentelemetry\/|graphql$)/;
  const optionalIn = (entry: string) => [...staticPackages(entry)].filter(([name]) => OPTIONAL.test(name));

  it('finds static imports in both builds (self-check)', () => {
    for (const build of ['esm', 'cjs']) {
      const packages = staticPackages(`dist/${build}/index.js`);
      expect(packages.has('@nestjs/common'), build).toBe(true);
      expect(packages.has('axios'), build).toBe(true);
    }
  });

  it.each(['esm', 'cjs'])('%s: the main and testing entry points load none of them', (build) => {
    expect(optionalIn(`dist/${build}/index.js`)).toEqual([]);
    expect(optionalIn(`dist/${build}/testing/index.js`)).toEqual([]);
  });

  it.each(['esm', 'cjs'])('%s: nestjs-cloud-run-auth/grpc loads @grpc/grpc-js, and nothing else optional', (build) => {
    expect(optionalIn(`dist/${build}/grpc/index.js`).map(([name]) => name)).toEqual(['@grpc/grpc-js']);
  });

  it.each(['esm', 'cjs'])(
    '%s: nestjs-cloud-run-auth/terminus loads @nestjs/terminus, and nothing else optional',
    (build) => {
      expect(optionalIn(`dist/${build}/terminus/index.js`).map(([name]) => name)).toEqual(['@nestjs/terminus']);
    },
  );

  it.each(['esm', 'cjs'])('%s: @opentelemetry/api is loaded with import() by one file, at module init', (build) => {
    const source = readFileSync(join(root, `dist/${build}/shared/telemetry/opentelemetry-api.js`), 'utf8');
    const loads = build === 'esm' ? /await import\('@opentelemetry\/api'\)/ : /require\('@opentelemetry\/api'\)/;
    expect(source).toMatch(loads);
    expect(staticImports(source)).not.toContain('@opentelemetry/api');
  });
});
