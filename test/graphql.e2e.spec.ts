import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { UseGuards, type INestApplication } from '@nestjs/common';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllowedCallers, Caller, CloudRunAuthGuard, CloudRunAuthModule, SkipCloudRunAuth } from '../lib/index.js';
import { startEmulator, type Emulator } from '../lib/testing/index.js';
import { CapturingLogger } from './utils/guarded-app.js';
import { mint } from './utils/tokens.js';

const AUDIENCE = 'https://graphql-orders-abc123-ew.a.run.app';
const OTHER = 'other@other-project.iam.gserviceaccount.com';

const typeDefs = /* GraphQL */ `
  type Query {
    me: String!
    special: String!
    health: String!
    open: String!
  }
`;

@Resolver()
@UseGuards(CloudRunAuthGuard)
class CallerResolver {
  @Query('me')
  me(@Caller('email') email: string): string {
    return email;
  }

  @Query('special')
  @AllowedCallers(OTHER)
  special(): string {
    return 'never';
  }

  @Query('health')
  @SkipCloudRunAuth()
  health(): string {
    return 'ok';
  }
}

/** A resolver class skipped as a whole. */
@Resolver()
@UseGuards(CloudRunAuthGuard)
@SkipCloudRunAuth()
class PublicResolver {
  @Query('open')
  open(): string {
    return 'open';
  }
}

interface GraphQLReply {
  status: number;
  wwwAuthenticate: string | null;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: { code?: string; originalError?: { statusCode?: number } } }[];
  };
}

/** The two GraphQL stacks Nest documents: Apollo on Express, Mercurius on Fastify. */
const STACKS = [
  {
    name: 'Apollo on Express',
    graphql: () => GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, typeDefs }),
    adapter: () => undefined,
    // Apollo's error extensions carry the HTTP status.
    extensions: (code: string, statusCode: number, message: string) => ({
      code,
      originalError: { statusCode, message },
    }),
  },
  {
    name: 'Mercurius on Fastify',
    graphql: () => GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, typeDefs }),
    adapter: () => new FastifyAdapter(),
    // Mercurius' errors have none by default.
    extensions: () => undefined,
  },
];

describe.each(STACKS)('CloudRunAuthGuard on GraphQL ($name)', ({ graphql, adapter, extensions }) => {
  let emu: Emulator;
  let app: INestApplication;
  let url: string;
  const logger = new CapturingLogger();

  const query = async (q: string, headers: Record<string, string> = {}): Promise<GraphQLReply> => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: q }),
    });
    return {
      status: res.status,
      wwwAuthenticate: res.headers.get('www-authenticate'),
      body: (await res.json()) as GraphQLReply['body'],
    };
  };

  beforeAll(async () => {
    emu = await startEmulator();
    const moduleRef = await Test.createTestingModule({
      imports: [
        CloudRunAuthModule.forRoot({
          inbound: { audience: AUDIENCE, allowedCallers: [emu.serviceAccountEmail], certsUrl: emu.certsUrl },
        }),
        graphql(),
      ],
      providers: [CallerResolver, PublicResolver],
    }).compile();
    const httpAdapter = adapter();
    app = httpAdapter
      ? moduleRef.createNestApplication(httpAdapter, { logger })
      : moduleRef.createNestApplication({ logger });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    await emu?.close();
  });

  it('answers a guarded query with a valid token, with the caller from @Caller()', async () => {
    const token = mint(emu, AUDIENCE);
    const reply = await query('{ me }', { authorization: `Bearer ${token}` });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ data: { me: emu.serviceAccountEmail } });
  });

  it('accepts X-Serverless-Authorization', async () => {
    const token = mint(emu, AUDIENCE);
    const reply = await query('{ me }', { 'x-serverless-authorization': `Bearer ${token}` });
    expect(reply.body.data).toEqual({ me: emu.serviceAccountEmail });
  });

  it('refuses a query without a token with an Unauthorized GraphQL error and WWW-Authenticate', async () => {
    const reply = await query('{ me }');
    expect(reply.status).toBe(200);
    expect(reply.wwwAuthenticate).toBe('Bearer');
    expect(reply.body.data).toBeNull();
    expect(reply.body.errors).toHaveLength(1);
    expect(reply.body.errors![0]!.message).toBe('Unauthorized');
    expect(reply.body.errors![0]!.extensions).toEqual(extensions('UNAUTHENTICATED', 401, 'Unauthorized'));
  });

  it('refuses a forged token with invalid_token and never echoes it', async () => {
    const token = mint(emu, AUDIENCE);
    const forged = `${token.slice(0, -4)}AAAA`;
    const reply = await query('{ me }', { authorization: `Bearer ${forged}` });
    expect(reply.body.errors![0]!.message).toBe('Unauthorized');
    expect(reply.wwwAuthenticate).toBe('Bearer error="invalid_token"');
    expect(JSON.stringify(reply.body)).not.toContain(forged);
    expect(logger.lines.map((l) => l.text).join('\n')).not.toContain(forged);
  });

  it('refuses a caller not allowed on the resolver with a Forbidden GraphQL error', async () => {
    const token = mint(emu, AUDIENCE);
    const reply = await query('{ special }', { authorization: `Bearer ${token}` });
    expect(reply.status).toBe(200);
    expect(reply.body.data).toBeNull();
    expect(reply.body.errors![0]!.message).toBe('Forbidden');
    expect(reply.body.errors![0]!.extensions).toEqual(extensions('FORBIDDEN', 403, 'Forbidden'));
    expect(reply.wwwAuthenticate).toBe('Bearer error="insufficient_scope"');
  });

  it('answers a @SkipCloudRunAuth() query without a token', async () => {
    const reply = await query('{ health }');
    expect(reply.body).toEqual({ data: { health: 'ok' } });
  });

  it('answers a query of a @SkipCloudRunAuth() resolver class without a token', async () => {
    const reply = await query('{ open }');
    expect(reply.body).toEqual({ data: { open: 'open' } });
  });
});
