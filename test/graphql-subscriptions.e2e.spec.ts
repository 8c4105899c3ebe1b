import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { UseGuards, type INestApplication } from '@nestjs/common';
import { GraphQLModule, Query, Resolver, Subscription } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AllowedCallers, Caller, CloudRunAuthGuard, CloudRunAuthModule, type InboundOptions } from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { mint } from './utils/tokens.js';

/**
 * GraphQL subscriptions over WebSocket (graphql-ws' `graphql-transport-ws` protocol), with a real
 * client: a subscription's caller is the one of the upgrade request's token header, as the client
 * sent it. Nothing in the `connection_init` payload counts: Mercurius copies that payload (or its
 * `headers`) into the upgrade request's `headers` for every header the request lacks, so a
 * header found there but not in the raw headers is refused.
 */

const AUDIENCE = 'https://graphql-events-abc123-ew.a.run.app';
const ADMIN = 'admin@events-project.iam.gserviceaccount.com';

const typeDefs = /* GraphQL */ `
  type Query {
    ping: String!
  }
  type Subscription {
    whoami: String!
  }
`;

@Resolver()
class EventsResolver {
  @Query('ping')
  ping(): string {
    return 'pong';
  }

  @Subscription('whoami')
  @UseGuards(CloudRunAuthGuard)
  @AllowedCallers(ADMIN)
  async *whoami(@Caller('email') email: string): AsyncGenerator<{ whoami: string }> {
    yield { whoami: email };
  }
}

/** The two GraphQL stacks Nest documents, each with subscriptions over graphql-ws. */
const STACKS = [
  {
    name: 'Apollo on Express',
    graphql: () =>
      GraphQLModule.forRoot<ApolloDriverConfig>({
        driver: ApolloDriver,
        typeDefs,
        subscriptions: { 'graphql-ws': true },
      }),
    adapter: () => undefined,
  },
  {
    name: 'Mercurius on Fastify',
    graphql: () =>
      GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, typeDefs, subscription: true }),
    adapter: () => new FastifyAdapter(),
  },
];

interface Outcome {
  data?: unknown;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  /** The socket closed or the client failed without a result. */
  closed?: string;
}

const MODES: InboundOptions['mode'][] = ['verify', 'cloud-run-iam'];

describe.each(STACKS)('GraphQL subscriptions behind CloudRunAuthGuard ($name)', ({ graphql, adapter }) => {
  describe.each(MODES)("mode '%s'", (mode) => {
    let emu: Emulator;
    let app: INestApplication;
    let wsUrl: string;
    const logger = new CapturingLogger();

    /** Subscribes once to `whoami`, with `headers` on the upgrade request and `payload` in `connection_init`. */
    const subscribe = (headers: Record<string, string>, payload?: Record<string, unknown>): Promise<Outcome> =>
      new Promise((resolve) => {
        class HeaderedWebSocket extends WebSocket {
          constructor(address: string, protocols?: string | string[]) {
            super(address, protocols, { headers });
          }
        }
        const client = createClient({
          url: wsUrl,
          webSocketImpl: HeaderedWebSocket,
          connectionParams: payload,
          retryAttempts: 0,
          lazy: true,
        });
        let settled = false;
        const settle = (outcome: Outcome) => {
          if (settled) return;
          settled = true;
          void client.dispose();
          resolve(outcome);
        };
        client.subscribe(
          { query: 'subscription { whoami }' },
          {
            next: (result) => settle(result as Outcome),
            error: (error: unknown) =>
              settle(
                Array.isArray(error)
                  ? { errors: error as Outcome['errors'] }
                  : { closed: error instanceof Error ? error.message : String((error as { code?: unknown }).code) },
              ),
            complete: () => settle({ closed: 'completed without a result' }),
          },
        );
      });

    /** A token for `email`: fully signed in `verify` mode, with Cloud Run's stripped signature otherwise. */
    const tokenFor = (email: string, stripSignature = mode === 'cloud-run-iam') =>
      mint(emu, AUDIENCE, { email, email_verified: true }, { stripSignature });
    const bearer = (token: string) => `Bearer ${token}`;

    beforeAll(async () => {
      emu = await startEmulator();
      const moduleRef = await Test.createTestingModule({
        imports: [
          CloudRunAuthModule.forRoot({
            inbound: { audience: AUDIENCE, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl, mode },
          }),
          graphql(),
        ],
        providers: [EventsResolver],
      }).compile();
      const httpAdapter = adapter();
      app = httpAdapter
        ? moduleRef.createNestApplication(httpAdapter, { logger })
        : moduleRef.createNestApplication({ logger });
      await app.listen(0, '127.0.0.1');
      wsUrl = (await app.getUrl()).replace(/^http/, 'ws') + '/graphql';
    });
    afterAll(async () => {
      await app?.close();
      await emu?.close();
    });

    it('streams to the caller of the upgrade request, with @Caller() filled', async () => {
      const outcome = await subscribe({ authorization: bearer(tokenFor(ADMIN)) });
      expect(outcome).toEqual({ data: { whoami: ADMIN } });
    });

    it('refuses a caller outside the allow-list, with an error the client can read', async () => {
      const outcome = await subscribe({ authorization: bearer(tokenFor(emu.serviceAccountEmail)) });
      expect(outcome.data ?? null).toBeNull();
      expect(outcome.errors?.[0]?.message).toBe('Forbidden');
    });

    it('refuses an upgrade request without a token, with an authentication error the client can read', async () => {
      const outcome = await subscribe({});
      expect(outcome.data ?? null).toBeNull();
      expect(outcome.errors?.[0]?.message).toBe('Unauthorized');
      expect(logger.lines.map((l) => l.text).join('\n')).not.toContain('is not a function');
    });

    // An attacker who passed Cloud Run IAM with its own token forges the admin's in the payload.
    const forgeries: [string, (token: string) => Record<string, unknown>][] = [
      ['X-Serverless-Authorization in the payload', (token) => ({ 'x-serverless-authorization': bearer(token) })],
      [
        'X-Serverless-Authorization in payload.headers',
        (token) => ({ headers: { 'x-serverless-authorization': bearer(token) } }),
      ],
      ['Authorization in the payload', (token) => ({ authorization: bearer(token) })],
      ['Authorization in payload.headers', (token) => ({ headers: { Authorization: bearer(token) } })],
    ];

    it.each(forgeries)('refuses the admin token forged in the connection_init payload: %s', async (_, payload) => {
      const forged = tokenFor(ADMIN, true);
      // With the attacker's own token on the upgrade request (what passed IAM), and without any.
      const upgrades: Record<string, string>[] = [{ authorization: bearer(tokenFor(emu.serviceAccountEmail)) }, {}];
      for (const headers of upgrades) {
        const outcome = await subscribe(headers, payload(forged));
        expect(outcome.data ?? null, JSON.stringify(outcome)).toBeNull();
        expect(outcome.errors?.[0]?.message, JSON.stringify(outcome)).toMatch(/^(Unauthorized|Forbidden)$/);
      }
    });

    it('refuses a valid, fully signed admin token sent in the payload only: tokens come from headers', async () => {
      const outcome = await subscribe({}, { authorization: bearer(tokenFor(ADMIN, false)) });
      expect(outcome.data ?? null).toBeNull();
      expect(outcome.errors?.[0]?.message).toBe('Unauthorized');
    });
  });
});
