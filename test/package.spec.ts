import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Runtime export names of each public entry point, sorted. Type-only exports do not appear here.
 * When you add a runtime export to lib/index.ts or lib/testing/index.ts, add its name here too.
 */
const EXPECTED_MAIN_EXPORTS = [
  'CloudRunAuthConfigError',
  'CloudRunAuthExceptionFilter',
  'CloudRunAuthModule',
  'GoogleIdTokenProvider',
  'IdTokenCache',
  'IdTokenFetchError',
  'IdTokenProvider',
  'InjectServiceClient',
  'ServiceClient',
  'TargetRejectedTokenError',
  'getServiceClientToken',
  // Inbound verification
  'AllowedCallers',
  'Caller',
  'CloudRunAuthGuard',
  'IapAssertionVerifier',
  'IdTokenVerifier',
  'SkipCloudRunAuth',
  'TokenVerificationError',
  'getCallerIdentity',
];
const EXPECTED_TESTING_EXPORTS = ['TEST_CALLER_HEADER', 'startEmulator', 'testCallerGuard'];
const EXPECTED_GRPC_EXPORTS = [
  'InjectGrpcCredentials',
  'createGrpcCredentials',
  'createIdTokenCallCredentials',
  'getGrpcCredentialsToken',
];
const EXPECTED_TERMINUS_EXPORTS = ['CloudRunAuthHealthIndicator'];
const EXPECTED_DOCTOR_EXPORTS = ['diagnoseToken'];

const ENTRY_POINTS = [
  { specifier: 'nestjs-cloud-run-auth', subpath: '.', expected: EXPECTED_MAIN_EXPORTS },
  { specifier: 'nestjs-cloud-run-auth/testing', subpath: './testing', expected: EXPECTED_TESTING_EXPORTS },
  { specifier: 'nestjs-cloud-run-auth/grpc', subpath: './grpc', expected: EXPECTED_GRPC_EXPORTS },
  { specifier: 'nestjs-cloud-run-auth/terminus', subpath: './terminus', expected: EXPECTED_TERMINUS_EXPORTS },
  { specifier: 'nestjs-cloud-run-auth/doctor', subpath: './doctor', expected: EXPECTED_DOCTOR_EXPORTS },
] as const;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/**
 * Loads a specifier in a separate, plain Node process (no vitest transforms, no TS path mapping),
 * so it resolves exactly as a consumer would: through package.json `exports`, here via the
 * package's self-reference from the repository root. Uses the same Node binary as the test run.
 */
function exportNamesInChildProcess(mode: 'esm' | 'cjs', specifier: string): string[] {
  const code =
    mode === 'esm'
      ? `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m).sort()));`
      : `const m = require(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m).sort()));`;
  const stdout = execFileSync(
    process.execPath,
    ['--no-warnings', `--input-type=${mode === 'esm' ? 'module' : 'commonjs'}`, '-e', code],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lastLine = stdout.trim().split('\n').at(-1)!;
  return JSON.parse(lastLine);
}

/** The files the import and require conditions of `subpath` point at. */
function conditionFiles(subpath: string): string[] {
  const entry = pkg.exports[subpath] as Record<'import' | 'require', { types: string; default: string }>;
  return [entry.import.types, entry.import.default, entry.require.types, entry.require.default];
}

/** Majors allowed by a range like "^11.0.0 || ^12.0.0" (caret ranges only). */
function caretMajors(range: string): number[] {
  return range.split('||').map((part) => {
    const match = /^\^(\d+)\.\d+\.\d+$/.exec(part.trim());
    if (!match) throw new Error(`unexpected range segment "${part.trim()}" in "${range}"`);
    return Number(match[1]);
  });
}

describe('built package (dist/)', () => {
  beforeAll(() => {
    const files = ENTRY_POINTS.flatMap((e) => conditionFiles(e.subpath));
    const missing = files.filter((file) => !existsSync(join(root, file)));
    if (!existsSync(join(root, 'dist')) || missing.length > 0) {
      throw new Error(
        `dist/ is missing or incomplete (${missing.join(', ') || 'dist/'}). ` +
          'These tests check the BUILT package: run `npm run build` first (`npm test` does it via pretest).',
      );
    }
  });

  describe.each(ENTRY_POINTS)('$specifier', ({ specifier, expected }) => {
    it('exposes exactly the expected runtime exports via ESM import', () => {
      expect(exportNamesInChildProcess('esm', specifier)).toEqual([...expected].sort());
    });

    it('exposes the same runtime exports via CommonJS require()', () => {
      expect(exportNamesInChildProcess('cjs', specifier)).toEqual([...expected].sort());
    });
  });
});

describe('each build uses its own module system for its peers', () => {
  // A ServiceClient's error from a 500 answer, checked against the AxiosError the app itself loads.
  const script = (load: (name: string) => string) => `
    ${load('reflect-metadata')};
    const http = ${load('node:http')};
    const { NestFactory } = ${load('@nestjs/core')};
    const { AxiosError } = ${load('axios')};
    const { CloudRunAuthModule, getServiceClientToken } = ${load('nestjs-cloud-run-auth')};
    const server = http.createServer((req, res) => { res.statusCode = 500; res.end(); }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = 'http://127.0.0.1:' + server.address().port;
    const root = CloudRunAuthModule.forRoot([{ name: 'orders', url, authenticate: false }]);
    const app = await NestFactory.createApplicationContext(root, { logger: false });
    const error = await app.get(getServiceClientToken('orders')).axiosRef.get('/x').catch((e) => e);
    console.log(JSON.stringify({ status: error.response.status, isAppAxiosError: error instanceof AxiosError }));
    await app.close();
    server.close();`;
  const runIn = (mode: 'esm' | 'cjs', code: string) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ['--no-warnings', `--input-type=${mode === 'esm' ? 'module' : 'commonjs'}`, '-e', code],
        { cwd: root, encoding: 'utf8' },
      )
        .trim()
        .split('\n')
        .at(-1)!,
    );

  it("CommonJS: require() gives errors that are instanceof the app's own AxiosError", () => {
    const code = `(async () => {${script((name) => `require('${name}')`)}})();`;
    expect(runIn('cjs', code)).toEqual({ status: 500, isAppAxiosError: true });
  });

  it("ESM: import gives errors that are instanceof the app's own AxiosError", () => {
    expect(
      runIn(
        'esm',
        script((name) => `await import('${name}')`),
      ),
    ).toEqual({ status: 500, isAppAxiosError: true });
  });

  it('one process loading both builds gets two separate modules (documented: load one)', () => {
    const code = `(async () => {
      const cjs = require('nestjs-cloud-run-auth');
      const esm = await import('nestjs-cloud-run-auth');
      console.log(JSON.stringify({ same: cjs.CloudRunAuthModule === esm.CloudRunAuthModule }));
    })();`;
    expect(runIn('cjs', code)).toEqual({ same: false });
  });
});

describe('package.json', () => {
  it('is an ES module package that only publishes dist/', () => {
    expect(pkg.type).toBe('module');
    expect(pkg.files).toEqual(['dist']);
  });

  it.each(ENTRY_POINTS)(
    'exports "$subpath" for import and require, each with its own types, in dist/',
    ({ subpath }) => {
      const entry = pkg.exports[subpath];
      expect(Object.keys(entry)).toEqual(['import', 'require']);
      for (const [condition, build] of [
        ['import', 'esm'],
        ['require', 'cjs'],
      ] as const) {
        // "types" must come first: TypeScript picks the first matching condition.
        expect(Object.keys(entry[condition])).toEqual(['types', 'default']);
        expect(entry[condition].default).toMatch(new RegExp(`^\\./dist/${build}/.*\\.js$`));
        expect(entry[condition].types).toBe(entry[condition].default.replace(/\.js$/, '.d.ts'));
      }
    },
  );

  it('marks the CommonJS build as such, so that Node does not read it as ESM', () => {
    expect(JSON.parse(readFileSync(join(root, 'dist/cjs/package.json'), 'utf8'))).toEqual({ type: 'commonjs' });
  });

  it('has main, types and typesVersions for node10 resolution (TypeScript with module: commonjs)', () => {
    expect(pkg.main).toBe('./dist/cjs/index.js');
    expect(pkg.types).toBe('./dist/cjs/index.d.ts');
    expect(pkg.typesVersions).toEqual({
      '*': {
        testing: ['./dist/cjs/testing/index.d.ts'],
        grpc: ['./dist/cjs/grpc/index.d.ts'],
        terminus: ['./dist/cjs/terminus/index.d.ts'],
        doctor: ['./dist/cjs/cli/doctor/index.d.ts'],
      },
    });
    const typesVersions = Object.values(pkg.typesVersions['*'] as Record<string, string[]>).map((files) => files[0]!);
    for (const file of [pkg.main, pkg.types, ...typesVersions] as string[]) {
      expect(existsSync(join(root, file)), `${file} should exist after the build`).toBe(true);
    }
  });

  it('publishes no install-time script and builds on prepack', () => {
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[hook]).toBeUndefined();
    expect(pkg.scripts.prepack).toBe('npm run build');
  });

  it('declares supported peer majors', () => {
    expect(caretMajors(pkg.peerDependencies['@nestjs/common'])).toEqual([11, 12]);
    expect(caretMajors(pkg.peerDependencies['@nestjs/core'])).toEqual([11, 12]);
    expect(caretMajors(pkg.peerDependencies['google-auth-library'])).toEqual([10, 11]);
  });

  it('declares the gRPC integration as optional peers: installing the package never requires them', () => {
    for (const name of ['@grpc/grpc-js', '@nestjs/microservices']) {
      expect(pkg.peerDependencies[name], name).toBeDefined();
      expect(pkg.peerDependenciesMeta[name], name).toEqual({ optional: true });
    }
  });

  it('requires axios 1.16.1 or later, and installs one for the tests', () => {
    // Older axios could send a request, its ID token included, in clear text to an HTTPS_PROXY.
    expect(pkg.peerDependencies.axios).toBe('^1.16.1');
    const installed = JSON.parse(readFileSync(join(root, 'node_modules/axios/package.json'), 'utf8')).version;
    const [major, minor, patch] = (installed as string).split('.').map(Number) as [number, number, number];
    expect(major).toBe(1);
    expect(minor * 1000 + patch, installed).toBeGreaterThanOrEqual(16 * 1000 + 1);
  });
});
