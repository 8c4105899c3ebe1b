import type { KeyObject } from 'node:crypto';
import { Injectable, type ExecutionContext, type Type } from '@nestjs/common';
import { CloudRunAuthGuard } from '../inbound/guard/cloud-run-auth.guard.js';
import { SigningKeyStore } from '../inbound/keys/signing-key.store.js';
import { IdTokenVerifier } from '../inbound/verifier/id-token.verifier.js';
import { CloudRunAuthConfigError } from '../shared/errors/config.error.js';
import { signRs256Jwt } from '../shared/jwt/jwt.signer.js';
import { cloudRunVariable } from '../shared/runtime/cloud-run.env.js';
import { idTokenClaims } from './id-token.claims.js';
import { reuseOrCreateSigningKey, type SigningKey } from './signing-key.js';

/** The request header that names the caller of one request to a {@link testCallerGuard} guard. */
export const TEST_CALLER_HEADER = 'x-test-caller';

const LIFETIME_SECONDS = 3600;
/** A token is minted again when it has less than this left, so that none expires during a test. */
const RENEW_BEFORE_SECONDS = 600;

/** One key per process, made on first use: it never leaves the process. */
let signingKey: SigningKey | undefined;

/** Serves the process's test key only. */
class TestKeyStore extends SigningKeyStore {
  constructor(private readonly key: SigningKey) {
    super();
  }

  getKey(kid: string): Promise<KeyObject | undefined> {
    return Promise.resolve(kid === this.key.kid ? this.key.publicKey : undefined);
  }
}

interface HttpRequestLike {
  headers?: Record<string, string | string[] | undefined>;
}

/**
 * A `CloudRunAuthGuard` for tests, with no emulator and no network: each request is made by
 * `defaultCaller`, or by the email in its `x-test-caller` header. The real guard runs: it
 * verifies a real RS256 ID token for that caller (signed with a key of this process, for the
 * module's first `inbound.audience`), applies the route's allow-list (a caller outside it gets
 * 403) and fills `@Caller()`. Without a caller, the request is refused as having no token (401).
 *
 * ```ts
 * Test.createTestingModule({ imports: [AppModule] })
 *   .overrideGuard(CloudRunAuthGuard) // also the guard mounted with `inbound.mount`
 *   .useClass(testCallerGuard('gateway@my-project.iam.gserviceaccount.com'))
 * ```
 *
 * Fails at boot on Cloud Run (`K_SERVICE` or `CLOUD_RUN_JOB` set): it is for tests only. HTTP and GraphQL
 * contexts; other contexts are guarded as by `CloudRunAuthGuard`.
 * @param defaultCaller the caller of requests without the header. @default none (401)
 */
export function testCallerGuard(defaultCaller?: string): Type<CloudRunAuthGuard> {
  @Injectable()
  class TestCallerGuard extends CloudRunAuthGuard {
    private readonly tokens = new Map<string, { bearer: string; renewAt: number }>();
    private key!: SigningKey;

    override onModuleInit(): void {
      super.onModuleInit();
      const cloudRun = cloudRunVariable();
      if (cloudRun) {
        throw new CloudRunAuthConfigError(
          `a test caller guard is for tests only, and ${cloudRun} is set: this process runs on Cloud Run`,
          'testCallerGuard',
        );
      }
      if (this.options.verifier.audiences.length === 0) {
        throw new CloudRunAuthConfigError('needs inbound.audience: it presents ID tokens', 'testCallerGuard');
      }
      this.key = signingKey ??= reuseOrCreateSigningKey();
      (this as unknown as { verifier: IdTokenVerifier }).verifier = new IdTokenVerifier(
        this.options.verifier,
        new TestKeyStore(this.key),
      );
    }

    /** The request as the guard reads it: only the test caller's token in `Authorization`. */
    protected override getRequest(context: ExecutionContext) {
      if (!this.key) this.onModuleInit();
      const request: HttpRequestLike = super.getRequest(context);
      const named = request.headers?.[TEST_CALLER_HEADER];
      const caller = typeof named === 'string' ? named : defaultCaller;
      if (caller === undefined) return { headers: {}, rawHeaders: [] };
      const bearer = this.bearerOf(caller);
      return { headers: { authorization: bearer }, rawHeaders: ['Authorization', bearer] };
    }

    private bearerOf(caller: string): string {
      const now = Math.floor(Date.now() / 1000);
      const cached = this.tokens.get(caller);
      if (cached && cached.renewAt > now) return cached.bearer;
      const claims = idTokenClaims(caller, this.options.verifier.audiences[0]!, now, LIFETIME_SECONDS);
      const token = signRs256Jwt(this.key.privateKey, { alg: 'RS256', kid: this.key.kid, typ: 'JWT' }, claims);
      const bearer = `Bearer ${token}`;
      this.tokens.set(caller, { bearer, renewAt: now + LIFETIME_SECONDS - RENEW_BEFORE_SECONDS });
      return bearer;
    }
  }
  return TestCallerGuard;
}
