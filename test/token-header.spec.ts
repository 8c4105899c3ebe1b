import { describe, expect, it } from 'vitest';
import { compileAllowList } from '../lib/inbound/allowed-callers.matcher.js';
import { bearerToken, readTokenHeader, type RequestHeaders } from '../lib/inbound/guard/token.extractor.js';

describe('token header parsing', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER abc', 'abc'],
    ['bEaReR abc', 'abc'],
    ['Bearer   abc', 'abc'],
    ['Bearer ', undefined],
    ['Bearer', undefined],
    ['Bearerabc', undefined],
    ['Basic abc', undefined],
    ['Bearer\tabc', undefined],
    ['Bearer\u00a0abc', undefined],
    [' Bearer abc', undefined],
    ['Be\u0161rer abc', undefined],
    ['Bearer\u0120abc', undefined],
    ['', undefined],
  ])('reads the token of %j as %j', (value, token) => {
    expect(bearerToken(value)).toBe(token);
  });

  it('takes only a b64token as the token', () => {
    expect(bearerToken('Bearer a.b-c_d~e+f/g==')).toBe('a.b-c_d~e+f/g==');
    for (const value of ['Bearer ', 'Bearer a b', 'Bearer a=b', 'Bearer a,b', 'Basic a.b.c']) {
      expect(bearerToken(value), value).toBeUndefined();
    }
  });

  it('refuses a token header sent twice, whatever the case of each name', () => {
    const read = (rawHeaders: string[]) =>
      readTokenHeader(Object.fromEntries([[rawHeaders[0]!.toLowerCase(), rawHeaders[1]!]]), 8192, rawHeaders);
    expect(read(['Authorization', 'Bearer a', 'AUTHORIZATION', 'Bearer b'])).toEqual({
      failure: 'duplicate_header',
      header: 'authorization',
    });
    expect(read(['x-serverless-authorization', 'Bearer a', 'X-Serverless-Authorization', 'Bearer b'])).toEqual({
      failure: 'duplicate_header',
      header: 'x-serverless-authorization',
    });
    // Names that only look alike are other headers.
    expect(read(['Authorization', 'Bearer a', 'Authorizatio\u006e2', 'x', 'Authorizatio\u00ce', 'y'])).toEqual({
      value: 'Bearer a',
      header: 'authorization',
    });
    expect(read(['Authorization', 'Bearer a', 'Authoriz\u0001tion', 'x'])).toEqual({
      value: 'Bearer a',
      header: 'authorization',
    });
  });
});

describe('the token header a request is judged by', () => {
  // [headers, rawHeaders]: what Node would hand over, and what middleware may have changed since.
  const cases: [string, RequestHeaders, string[] | undefined][] = [
    ['authorization', { authorization: 'Bearer a' }, ['Authorization', 'Bearer a']],
    ['lowercase name', { authorization: 'Bearer a' }, ['authorization', 'Bearer a']],
    ['odd case', { authorization: 'Bearer a' }, ['aUTHORIZATION', 'Bearer a']],
    ['no raw headers', { authorization: 'Bearer a' }, undefined],
    ['missing', {}, []],
    ['repeated', { authorization: 'Bearer a' }, ['Authorization', 'Bearer a', 'authorization', 'Bearer b']],
    ['repeated, odd case', { authorization: 'Bearer a' }, ['Authorization', 'Bearer a', 'AuthoriZation', 'Bearer b']],
    ['array', { authorization: ['Bearer a', 'Bearer b'] }, undefined],
    ['too large', { authorization: `Bearer ${'a'.repeat(100)}` }, ['Authorization', `Bearer ${'a'.repeat(100)}`]],
    [
      'serverless wins',
      { 'x-serverless-authorization': 'Bearer s', authorization: 'Bearer a' },
      ['X-Serverless-Authorization', 'Bearer s', 'Authorization', 'Bearer a'],
    ],
    [
      'serverless repeated',
      { 'x-serverless-authorization': 'Bearer s', authorization: 'Bearer a' },
      ['X-Serverless-Authorization', 'Bearer s', 'x-serverless-authorization', 'Bearer t', 'Authorization', 'Bearer a'],
    ],
    [
      'serverless empty',
      { 'x-serverless-authorization': '', authorization: 'Bearer a' },
      ['X-Serverless-Authorization', '', 'Authorization', 'Bearer a'],
    ],
    ['set by middleware', { authorization: 'Bearer m' }, ['X-Forwarded-Authorization', 'Bearer m']],
  ];

  it('fails where readTokenHeader fails', () => {
    const failures = cases
      .filter(([, headers, raw]) => 'failure' in readTokenHeader(headers, 64, raw))
      .map(([name]) => name);
    expect(failures).toEqual([
      'missing',
      'repeated',
      'repeated, odd case',
      'array',
      'too large',
      'serverless repeated',
      'set by middleware',
    ]);
  });

  it('refuses a header the client did not send (a framework or middleware wrote it into headers)', () => {
    const headers = { authorization: 'Bearer m' };
    expect(readTokenHeader(headers, 64, ['X-Forwarded-Authorization', 'Bearer m'])).toEqual({
      failure: 'header_not_sent',
      header: 'authorization',
    });
    // Mercurius copies a connection_init payload's headers into a subscription's upgrade request.
    const injected = { authorization: 'Bearer a', 'x-serverless-authorization': 'Bearer forged' };
    expect(readTokenHeader(injected, 64, ['Authorization', 'Bearer a'])).toEqual({
      failure: 'header_not_sent',
      header: 'x-serverless-authorization',
    });
    // Without raw headers, headers is all there is (the guard then refuses stripped tokens).
    expect(readTokenHeader(headers, 64)).toEqual({ value: 'Bearer m', header: 'authorization' });
  });
});

describe('allow-list decisions', () => {
  it('decides the same way the first time and every time after, also past the decisions it remembers', () => {
    const list = compileAllowList(['Alice@p.iam.gserviceaccount.com', '*@team-project.iam.gserviceaccount.com'], 'x');
    const cases: [string, boolean][] = [
      ['alice@p.iam.gserviceaccount.com', true],
      ['ALICE@P.IAM.GSERVICEACCOUNT.COM', true],
      ['bob@p.iam.gserviceaccount.com', false],
      ['bob@team-project.iam.gserviceaccount.com', true],
      ['bob@Team-Project.iam.gserviceaccount.com', true],
      ['a@b@team-project.iam.gserviceaccount.com', false],
      ['bob@other-project.iam.gserviceaccount.com', false],
    ];
    for (let round = 0; round < 3; round += 1) {
      for (const [email, allowed] of cases) expect(list.matches(email), email).toBe(allowed);
      // More distinct callers than the list remembers decisions for.
      for (let i = 0; i < 5000; i += 1) {
        expect(list.matches(`caller-${i}@team-project.iam.gserviceaccount.com`)).toBe(true);
        expect(list.matches(`caller-${i}@elsewhere.iam.gserviceaccount.com`)).toBe(false);
      }
    }
  });
});
