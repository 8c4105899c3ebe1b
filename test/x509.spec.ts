import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSelfSignedCertificate, integer, objectIdentifier, time, tlv } from '../lib/testing/x509.js';
import { Certificates, CERTIFICATE_COMMON_NAME } from '../lib/testing/certificates.js';
import { createSigningKey, toJwk } from '../lib/testing/signing-key.js';

const hex = (b: Buffer) => b.toString('hex');
const DAY = 86_400_000;

describe('DER encoder', () => {
  it('encodes short and long definite lengths', () => {
    expect(hex(tlv(0x04, Buffer.alloc(3)))).toBe('0403000000');
    expect(hex(tlv(0x04, Buffer.alloc(127))).slice(0, 4)).toBe('047f');
    expect(hex(tlv(0x04, Buffer.alloc(128))).slice(0, 6)).toBe('048180');
    expect(hex(tlv(0x04, Buffer.alloc(256))).slice(0, 8)).toBe('04820100');
    expect(hex(tlv(0x05))).toBe('0500');
  });

  it('encodes INTEGERs minimally and positive', () => {
    expect(hex(integer(Buffer.from([2])))).toBe('020102');
    expect(hex(integer(Buffer.from([0, 0, 5])))).toBe('020105');
    expect(hex(integer(Buffer.from([0x80])))).toBe('02020080');
    expect(hex(integer(Buffer.from([0])))).toBe('020100');
  });

  it('encodes OBJECT IDENTIFIERs (multi-byte arcs included)', () => {
    expect(hex(objectIdentifier('2.5.4.3'))).toBe('0603550403');
    expect(hex(objectIdentifier('1.2.840.113549.1.1.11'))).toBe('06092a864886f70d01010b');
    expect(hex(objectIdentifier('1.3.6.1.5.5.7.3.2'))).toBe('06082b06010505070302');
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050', () => {
    expect(time(new Date('2049-12-31T23:59:59.900Z')).toString('latin1')).toBe('\x17\x0d491231235959Z');
    expect(time(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20500101000000Z');
  });
});

describe('createSelfSignedCertificate', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2026-01-15T00:00:00Z');

  it('is a certificate node:crypto parses: self-signed, the right key, names, dates and extensions', () => {
    const pem = createSelfSignedCertificate(publicKey, privateKey, {
      commonName: 'federated-signon.system.gserviceaccount.com',
      notBefore,
      notAfter,
      serialNumber: Buffer.from('00ff01', 'hex'),
    });
    expect(pem).toMatch(
      /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/,
    );
    const cert = new X509Certificate(pem);
    expect(cert.verify(publicKey)).toBe(true);
    expect(cert.publicKey.equals(publicKey)).toBe(true);
    expect(cert.subject).toBe('CN=federated-signon.system.gserviceaccount.com');
    expect(cert.issuer).toBe(cert.subject);
    expect(new Date(cert.validFrom).toISOString()).toBe(notBefore.toISOString());
    expect(new Date(cert.validTo).toISOString()).toBe(notAfter.toISOString());
    expect(cert.serialNumber).toBe('FF01');
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.toLegacyObject().bits).toBe(2048);
  });

  it('does not verify against another key', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = createSelfSignedCertificate(publicKey, privateKey, { commonName: 'x', notBefore, notAfter });
    expect(new X509Certificate(pem).verify(other.publicKey)).toBe(false);
    // Signed with one key, claiming another: the signature does not cover the claimed key.
    const mixed = createSelfSignedCertificate(other.publicKey, privateKey, { commonName: 'x', notBefore, notAfter });
    expect(new X509Certificate(mixed).verify(other.publicKey)).toBe(false);
  });

  it('refuses what it cannot encode correctly', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const sign = (options: Partial<Parameters<typeof createSelfSignedCertificate>[2]>) =>
      createSelfSignedCertificate(publicKey, privateKey, { commonName: 'x', notBefore, notAfter, ...options });
    expect(() =>
      createSelfSignedCertificate(ec.publicKey, ec.privateKey, { commonName: 'x', notBefore, notAfter }),
    ).toThrow(/RSA keys only/);
    expect(() => sign({ notAfter: notBefore })).toThrow(/notBefore/);
    expect(() => sign({ serialNumber: Buffer.alloc(2) })).toThrow(/serialNumber/);
    expect(() => sign({ serialNumber: Buffer.alloc(21, 1) })).toThrow(/serialNumber/);
  });
});

describe('Certificates (the /oauth2/v1/certs document)', () => {
  it('wraps each signing key in a certificate valid now, whose key is the JWK of the same kid', () => {
    const keys = [createSigningKey(), createSigningKey()];
    const certificates = new Certificates();
    const pems = certificates.pemCertificates(keys);
    const jwks = certificates.jwks(keys);
    expect(Object.keys(pems)).toEqual(keys.map((k) => k.kid));
    for (const jwk of jwks.keys) {
      const cert = new X509Certificate(pems[jwk.kid!]!);
      expect(cert.subject).toBe(`CN=${CERTIFICATE_COMMON_NAME}`);
      expect(cert.verify(cert.publicKey)).toBe(true);
      const { n, e } = cert.publicKey.export({ format: 'jwk' });
      expect({ n, e }).toEqual({ n: jwk.n, e: jwk.e });
      expect(new Date(cert.validFrom).getTime()).toBeLessThan(Date.now());
      expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 7 * DAY);
    }
    expect(toJwk(keys[0]!)).toEqual(jwks.keys[0]);
  });

  it('keeps a certificate while it is valid and renews it a day before it expires', () => {
    let now = Date.parse('2026-03-01T12:00:00Z');
    const certificates = new Certificates(() => now);
    const key = createSigningKey();
    const first = certificates.certificateOf(key);
    // Valid from a day before it was made, for 14 days: 13 days ahead, renewed with a day left.
    now += 12 * DAY - 1000;
    expect(certificates.certificateOf(key)).toBe(first);
    now += 1000;
    const renewed = certificates.certificateOf(key);
    expect(renewed).not.toBe(first);
    const cert = new X509Certificate(renewed);
    expect(new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(now);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(now + 7 * DAY);
    expect(cert.publicKey.equals(key.publicKey)).toBe(true);
  });
});
