import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { encodeSegment } from '../../lib/shared/jwt/jwt.codec.js';
import { signEs256Jwt, signRs256Jwt } from '../../lib/shared/jwt/jwt.signer.js';
import { createIapSigningKey, createSigningKey, type SigningKey } from '../../lib/testing/signing-key.js';
import type { Emulator } from '../../lib/testing/index.js';
import { IdTokenProvider, TokenVerificationError } from '../../lib/index.js';

/**
 * A key made on first use: most files importing this one never need it, and an RSA key takes a
 * noticeable time to generate.
 */
function keyOnFirstUse(create: () => SigningKey): Pick<SigningKey, 'privateKey' | 'publicKey'> {
  let key: SigningKey | undefined;
  return {
    get privateKey() {
      return (key ??= create()).privateKey;
    },
    get publicKey() {
      return (key ??= create()).publicKey;
    },
  };
}

/** A key the attacker controls: never published in the JWKS. */
export const attackerKey = keyOnFirstUse(createSigningKey);
/** An EC P-256 key the attacker controls: never published in IAP's JWKS. */
export const attackerIapKey = keyOnFirstUse(createIapSigningKey);

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The `TokenVerificationError` a verification rejects with; fails when it resolves or throws anything else. */
export async function rejection(promise: Promise<unknown>): Promise<TokenVerificationError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TokenVerificationError) return error;
    throw error;
  }
  throw new Error('the token was accepted');
}

/** Signs `header.payload` with RS256 and any key. */
export const signRs256 = signRs256Jwt;
/** Signs `header.payload` with ES256 (JWS form) and any P-256 key. */
export const signEs256 = signEs256Jwt;

/** Signs with an HMAC, the classic alg-confusion forgery. */
export function signHmac(
  alg: 'HS256' | 'HS512',
  secret: string | Buffer,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const input = `${encodeSegment({ ...header, alg })}.${encodeSegment(payload)}`;
  return `${input}.${createHmac(alg === 'HS256' ? 'sha256' : 'sha512', secret)
    .update(input)
    .digest('base64url')}`;
}

/** Google-shaped claims for `emu`'s identity; `undefined` values remove a claim. */
export function claims(
  emu: Emulator,
  audience: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const iat = nowSeconds();
  const payload: Record<string, unknown> = {
    iss: 'https://accounts.google.com',
    aud: audience,
    azp: '1234567890',
    sub: '1234567890',
    email: emu.serviceAccountEmail,
    email_verified: true,
    iat,
    exp: iat + 3600,
    // Unique per token, so no test is answered from the verified-token cache by accident.
    jti: randomUUID(),
    ...overrides,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return payload;
}

/** A validly signed emulator token with a unique `jti`. */
export function mint(
  emu: Emulator,
  audience: string,
  overrides: Record<string, unknown> = {},
  options: Parameters<Emulator['mintIdToken']>[1] = {},
): string {
  return emu.mintIdToken({ aud: audience, jti: randomUUID(), ...overrides }, options);
}

/** `token` with its header segment replaced (the signature no longer covers it). */
export function withHeader(token: string, header: Record<string, unknown>): string {
  const [, payload, signature] = token.split('.');
  return `${encodeSegment(header)}.${payload}.${signature}`;
}

/** `token` with its payload segment replaced (the signature no longer covers it). */
export function withPayload(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${encodeSegment(payload)}.${signature}`;
}

export function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
}

export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
}

export const randomKid = () => randomBytes(20).toString('hex');

export interface ForgedCase {
  name: string;
  /** The Authorization header value (or other headers, for header-level cases). */
  headers: Record<string, string>;
  /** The token material that must never be echoed. */
  secret: string;
  status: 401 | 403;
  reason: string;
}

/**
 * Forged, broken or unacceptable tokens for a verifier configured with `audience`, allow-list
 * `[emu.serviceAccountEmail]`, mode `verify`, tolerance 30 s. `previousKid` is a published key
 * other than the current one. `status` is the guard's answer.
 */
export function forgedCases(emu: Emulator, audience: string, publicKeyPem: string, previousKid: string): ForgedCase[] {
  const now = nowSeconds();
  const kid = emu.currentKid;
  const good = () => mint(emu, audience);
  const bad = (overrides: Record<string, unknown>) => mint(emu, audience, overrides);
  const attacker = (header: Record<string, unknown>) =>
    signRs256(attackerKey.privateKey, { alg: 'RS256', typ: 'JWT', ...header }, claims(emu, audience));
  const sig = (token: string) => token.split('.')[2]!;
  const input = (token: string) => token.slice(0, token.lastIndexOf('.'));
  const huge = `${good()}${'A'.repeat(9000)}`;
  const tokens: [string, string, string][] = [
    // [name, token, reason]
    [
      'alg none without signature',
      `${encodeSegment({ alg: 'none', typ: 'JWT' })}.${encodeSegment(claims(emu, audience))}.`,
      'unsupported_alg',
    ],
    ['alg none with a real signature', mint(emu, audience, {}, { header: { alg: 'none' } }), 'unsupported_alg'],
    ['alg "None"', mint(emu, audience, {}, { header: { alg: 'None' } }), 'unsupported_alg'],
    ['alg missing', mint(emu, audience, {}, { header: { alg: undefined } }), 'unsupported_alg'],
    [
      'HS256 keyed with the public key PEM',
      signHmac('HS256', publicKeyPem, { kid, typ: 'JWT' }, claims(emu, audience)),
      'unsupported_alg',
    ],
    [
      'HS512 keyed with the public key PEM',
      signHmac('HS512', publicKeyPem, { kid, typ: 'JWT' }, claims(emu, audience)),
      'unsupported_alg',
    ],
    ['RS512 header', mint(emu, audience, {}, { header: { alg: 'RS512' } }), 'unsupported_alg'],
    ['PS256 header', mint(emu, audience, {}, { header: { alg: 'PS256' } }), 'unsupported_alg'],
    ['ES256 header', mint(emu, audience, {}, { header: { alg: 'ES256' } }), 'unsupported_alg'],
    ['crit header', mint(emu, audience, {}, { header: { crit: ['exp'] } }), 'unsupported_header'],
    ['kid missing', mint(emu, audience, {}, { header: { kid: undefined } }), 'missing_kid'],
    ['kid empty', mint(emu, audience, {}, { header: { kid: '' } }), 'missing_kid'],
    ['kid numeric', mint(emu, audience, {}, { header: { kid: 42 } }), 'missing_kid'],
    ['unknown kid, attacker key', attacker({ kid: randomKid() }), 'unknown_kid'],
    ['real kid, attacker key', attacker({ kid }), 'bad_signature'],
    ['kid of the other published key', mint(emu, audience, {}, { header: { kid: previousKid } }), 'bad_signature'],
    [
      'payload changed after signing',
      withPayload(good(), claims(emu, audience, { email: 'admin@emulator-project.iam.gserviceaccount.com' })),
      'bad_signature',
    ],
    ['signature truncated', good().slice(0, -10), 'bad_signature'],
    ['signature of another token', `${input(good())}.${sig(good())}`, 'bad_signature'],
    ['signature empty', `${input(good())}.`, 'bad_signature'],
    ['aud of another service', bad({ aud: 'https://other-service.a.run.app' }), 'invalid_audience'],
    ['aud array not matching', bad({ aud: ['https://other-service.a.run.app'] }), 'invalid_audience'],
    ['aud array containing ours', bad({ aud: [audience, 'https://other.example'] }), 'invalid_audience'],
    ['aud as a prefix of ours', bad({ aud: audience.slice(0, -3) }), 'invalid_audience'],
    ['iss of another IdP', bad({ iss: 'https://evil.example.com' }), 'invalid_issuer'],
    ['iss over http', bad({ iss: 'http://accounts.google.com' }), 'invalid_issuer'],
    ['iss missing', bad({ iss: undefined }), 'invalid_issuer'],
    ['sub missing', bad({ sub: undefined }), 'invalid_subject'],
    ['expired an hour ago', bad({ iat: now - 7200, exp: now - 3600 }), 'expired'],
    ['expired just beyond the leeway', bad({ iat: now - 3645, exp: now - 45 }), 'expired'],
    ['exp missing', bad({ exp: undefined }), 'invalid_exp'],
    ['exp as a string', bad({ exp: String(now + 3600) }), 'invalid_exp'],
    ['iat in the future', bad({ iat: now + 300, exp: now + 3900 }), 'issued_in_future'],
    ['iat missing', bad({ iat: undefined }), 'invalid_iat'],
    ['lifetime of two days', bad({ iat: now, exp: now + 2 * 86_400 }), 'lifetime_too_long'],
    ['nbf in the future', bad({ nbf: now + 300 }), 'not_yet_valid'],
    ['nbf as a string', bad({ nbf: String(now) }), 'invalid_nbf'],
    ['email missing', bad({ email: undefined, email_verified: undefined }), 'missing_email'],
    ['email_verified false', bad({ email_verified: false }), 'email_not_verified'],
    ['email_verified "true" as a string', bad({ email_verified: 'true' }), 'email_not_verified'],
    [
      'signature stripped by Cloud Run (verify mode)',
      mint(emu, audience, {}, { stripSignature: true }),
      'signature_removed',
    ],
    ['garbage', 'not-a-jwt', 'malformed'],
    ['two segments', input(good()), 'malformed'],
    ['four segments', `${good()}.${sig(good())}`, 'malformed'],
    [
      'header not JSON',
      `${Buffer.from('{"alg":"RS256",').toString('base64url')}.${good().split('.')[1]}.${sig(good())}`,
      'malformed',
    ],
    ['payload a JSON array', `${good().split('.')[0]}.${encodeSegment([1, 2])}.${sig(good())}`, 'malformed'],
    ['base64 padding', `${good()}=`, 'non_canonical_encoding'],
    ['oversized', huge, 'header_too_large'],
  ];
  const cases: ForgedCase[] = tokens.map(([name, token, reason]) => ({
    name,
    headers: { authorization: `Bearer ${token}` },
    secret: token,
    // A valid token without a verified email: the verifier's reason, but the guard's 403 (its caller cannot be matched).
    status: reason === 'missing_email' || reason === 'email_not_verified' ? 403 : 401,
    reason,
  }));
  const valid = good();
  cases.push(
    { name: 'no token at all', headers: {}, secret: '', status: 401, reason: 'missing_token' },
    {
      name: 'Bearer without token',
      headers: { authorization: 'Bearer ' },
      secret: '',
      status: 401,
      reason: 'malformed_header',
    },
    {
      name: 'Basic scheme',
      headers: { authorization: `Basic ${valid}` },
      secret: valid,
      status: 401,
      reason: 'malformed_header',
    },
    {
      name: 'token without scheme',
      headers: { authorization: valid },
      secret: valid,
      status: 401,
      reason: 'malformed_header',
    },
    {
      name: 'tab after the scheme',
      headers: { authorization: `Bearer\t${valid}` },
      secret: valid,
      status: 401,
      reason: 'malformed_header',
    },
    {
      name: 'trailing junk',
      headers: { authorization: `Bearer ${valid} junk` },
      secret: valid,
      status: 401,
      reason: 'malformed_header',
    },
    {
      name: 'bad X-Serverless-Authorization never falls back to a good Authorization',
      headers: { 'x-serverless-authorization': 'Bearer not-a-jwt', authorization: `Bearer ${valid}` },
      secret: valid,
      status: 401,
      reason: 'malformed',
    },
    {
      name: 'empty X-Serverless-Authorization never falls back',
      headers: { 'x-serverless-authorization': '', authorization: `Bearer ${valid}` },
      secret: valid,
      status: 401,
      reason: 'malformed_header',
    },
    {
      name: 'caller not in the allow-list',
      headers: { authorization: `Bearer ${bad({ email: 'intruder@evil-project.iam.gserviceaccount.com' })}` },
      secret: '',
      status: 403,
      reason: 'caller_not_allowed',
    },
  );
  const last = cases[cases.length - 1]!;
  last.secret = last.headers.authorization!.slice(7);
  return cases;
}

/** A provider that needs no metadata server: returns a JWT-shaped token per audience and records the audiences. */
export class CountingProvider extends IdTokenProvider {
  calls: string[] = [];
  async getIdToken(audience: string): Promise<string> {
    this.calls.push(audience);
    const now = nowSeconds();
    return `${encodeSegment({ alg: 'RS256' })}.${encodeSegment({ aud: audience, iat: now, exp: now + 3600 })}.sig`;
  }
}

export const IAP_ISSUER = 'https://cloud.google.com/iap';

/** An IAP-shaped payload for `email`; `undefined` values remove a claim. */
export function iapClaims(audience: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = nowSeconds();
  const payload: Record<string, unknown> = {
    iss: IAP_ISSUER,
    aud: audience,
    sub: 'accounts.google.com:1234567890',
    email: 'alice@example.com',
    iat,
    exp: iat + 600,
    ...overrides,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return payload;
}

/** A validly signed emulator IAP assertion with a unique `jti`, so that no test is answered from a cache by accident. */
export function mintIap(
  emu: Emulator,
  audience: string,
  overrides: Record<string, unknown> = {},
  options: Parameters<Emulator['mintIapAssertion']>[1] = {},
): string {
  return emu.mintIapAssertion({ aud: audience, email: 'alice@example.com', jti: randomUUID(), ...overrides }, options);
}

/** An ES256 JWS signature (`r || s`, 64 bytes) re-encoded as DER, the form node:crypto signs by default. */
export function p1363ToDer(signature: Buffer): Buffer {
  const integer = (bytes: Buffer) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
    const trimmed = bytes.subarray(start);
    const value = trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
    return Buffer.concat([Buffer.from([0x02, value.length]), value]);
  };
  const body = Buffer.concat([integer(signature.subarray(0, 32)), integer(signature.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** `token` with its signature segment replaced by `signature`. */
export function withSignature(token: string, signature: Buffer): string {
  return `${token.slice(0, token.lastIndexOf('.'))}.${signature.toString('base64url')}`;
}

/**
 * Forged, broken or unacceptable IAP assertions for a verifier of IAP audience `audience`
 * (tolerance 30 s), as `[name, token, reason]`; `idAudience` is an ID-token audience the same
 * service accepts.
 */
export function forgedIapCases(emu: Emulator, audience: string, idAudience: string): [string, string, string][] {
  const now = nowSeconds();
  const good = () => mintIap(emu, audience);
  const bad = (overrides: Record<string, unknown>) => mintIap(emu, audience, overrides);
  const kid = headerOf(good()).kid;
  const signature = () => Buffer.from(good().split('.')[2]!, 'base64url');
  const unsigned = `${encodeSegment({ alg: 'none', typ: 'JWT', kid })}.${encodeSegment(iapClaims(audience))}.`;
  return [
    [
      'ES256 signature under an RS256 header',
      mintIap(emu, audience, {}, { header: { alg: 'RS256' } }),
      'unsupported_alg',
    ],
    [
      'RS256 token with IAP claims',
      signRs256(attackerKey.privateKey, { alg: 'RS256', kid: 'x', typ: 'JWT' }, iapClaims(audience)),
      'unsupported_alg',
    ],
    ['a valid Google ID token', mint(emu, idAudience), 'unsupported_alg'],
    ['alg none without signature', unsigned, 'unsupported_alg'],
    ['alg none with a real signature', mintIap(emu, audience, {}, { header: { alg: 'none' } }), 'unsupported_alg'],
    ['alg missing', mintIap(emu, audience, {}, { header: { alg: undefined } }), 'unsupported_alg'],
    ['ES384 header', mintIap(emu, audience, {}, { header: { alg: 'ES384' } }), 'unsupported_alg'],
    ['HS256 header', signHmac('HS256', 'secret', { kid, typ: 'JWT' }, iapClaims(audience)), 'unsupported_alg'],
    ['crit header', mintIap(emu, audience, {}, { header: { crit: ['exp'] } }), 'unsupported_header'],
    ['kid missing', mintIap(emu, audience, {}, { header: { kid: undefined } }), 'missing_kid'],
    ['kid numeric', mintIap(emu, audience, {}, { header: { kid: 7 } }), 'missing_kid'],
    [
      'unknown kid, attacker key',
      signEs256(attackerIapKey.privateKey, { alg: 'ES256', kid: randomKid(), typ: 'JWT' }, iapClaims(audience)),
      'unknown_kid',
    ],
    [
      'real kid, attacker key',
      signEs256(attackerIapKey.privateKey, { alg: 'ES256', kid, typ: 'JWT' }, iapClaims(audience)),
      'bad_signature',
    ],
    ['valid signature in DER form', withSignature(good(), p1363ToDer(signature())), 'bad_signature'],
    ['signature of 63 bytes', withSignature(good(), signature().subarray(0, 63)), 'bad_signature'],
    ['signature of 65 bytes', withSignature(good(), Buffer.concat([signature(), Buffer.from([0])])), 'bad_signature'],
    ['signature of 64 zero bytes', withSignature(good(), Buffer.alloc(64)), 'bad_signature'],
    ['signature empty', withSignature(good(), Buffer.alloc(0)), 'bad_signature'],
    [
      'signature stripped as Cloud Run does',
      `${good().slice(0, good().lastIndexOf('.'))}.SIGNATURE_REMOVED_BY_GOOGLE`,
      'bad_signature',
    ],
    [
      'payload changed after signing',
      withPayload(good(), iapClaims(audience, { email: 'admin@example.com' })),
      'bad_signature',
    ],
    ['iss of Google ID tokens', bad({ iss: 'https://accounts.google.com' }), 'invalid_issuer'],
    ['iss with a trailing slash', bad({ iss: `${IAP_ISSUER}/` }), 'invalid_issuer'],
    ['iss missing', bad({ iss: undefined }), 'invalid_issuer'],
    ['an ID-token audience', bad({ aud: idAudience }), 'invalid_audience'],
    ['aud with a trailing slash', bad({ aud: `${audience}/` }), 'invalid_audience'],
    ['aud of another service', bad({ aud: audience.replace(/[^/]+$/, 'billing') }), 'invalid_audience'],
    ['aud array containing ours', bad({ aud: [audience] }), 'invalid_audience'],
    ['sub missing', bad({ sub: undefined }), 'invalid_subject'],
    ['expired', bad({ iat: now - 1200, exp: now - 600 }), 'expired'],
    ['expired just beyond the leeway', bad({ iat: now - 645, exp: now - 45 }), 'expired'],
    ['exp missing', bad({ exp: undefined }), 'invalid_exp'],
    ['iat in the future', bad({ iat: now + 300, exp: now + 900 }), 'issued_in_future'],
    ['lifetime of two days', bad({ iat: now, exp: now + 2 * 86_400 }), 'lifetime_too_long'],
    ['email missing', bad({ email: undefined }), 'missing_email'],
    ['email empty', bad({ email: '' }), 'missing_email'],
    ['garbage', 'not-a-jwt', 'malformed'],
    ['with a Bearer prefix', `Bearer ${good()}`, 'malformed'],
  ];
}
