import { randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * A minimal DER encoder for one thing: a self-signed X.509 v3 certificate over an RSA key,
 * signed with SHA-256 (RFC 5280). node:crypto parses certificates (`X509Certificate`) but
 * cannot create them, and Google's `https://www.googleapis.com/oauth2/v1/certs` serves
 * certificates, not bare public keys.
 */

/** Options of {@link createSelfSignedCertificate}. */
export interface CertificateOptions {
  /** Subject and issuer common name. */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  /** Positive serial number, big-endian. @default 16 random bytes */
  serialNumber?: Buffer;
  /**
   * Make a TLS server certificate for these host names (subjectAltName, server authentication)
   * instead of a token-signing one. @default none
   */
  dnsNames?: string[];
}

const OID = {
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
};

/** One DER value: tag, definite length, contents. */
export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const length: number[] = [];
  for (let n = body.length; n > 0; n = Math.floor(n / 256)) length.unshift(n % 256);
  const header = body.length < 0x80 ? [tag, body.length] : [tag, 0x80 | length.length, ...length];
  return Buffer.concat([Buffer.from(header), body]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const explicit = (n: number, inner: Buffer) => tlv(0xa0 | n, inner);
const octetString = (bytes: Buffer) => tlv(0x04, bytes);
const bitString = (bytes: Buffer, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), bytes);
const utf8String = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const TRUE = tlv(0x01, Buffer.from([0xff]));
const NULL = tlv(0x05);

/** An INTEGER from big-endian unsigned bytes: minimal, with a 0x00 when the top bit is set. */
export function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const value = bytes.subarray(start);
  return tlv(0x02, value[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value);
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function objectIdentifier(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * first! + second!];
  for (const arc of rest) {
    const base128 = [arc % 128];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) base128.unshift(0x80 | (n % 128));
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280, 4.1.2.5), to the second. */
export function time(date: Date): Buffer {
  const iso = date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:T]/g, ''); // YYYYMMDDHHMMSSZ
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const extension = (oid: string, critical: boolean, value: Buffer) =>
  sequence(objectIdentifier(oid), ...(critical ? [TRUE] : []), octetString(value)); // critical DEFAULT FALSE

/** Not a CA; digital signature only; TLS client authentication (Google's), or server authentication for `dnsNames`. */
function extensions(dnsNames: string[] | undefined): Buffer {
  const usage = dnsNames ? OID.serverAuth : OID.clientAuth;
  return sequence(
    extension(OID.basicConstraints, true, sequence()), // cA FALSE is the DEFAULT, so DER leaves it out
    extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
    extension(OID.extKeyUsage, false, sequence(objectIdentifier(usage))),
    // GeneralName dNSName is [2] IA5String, implicitly tagged.
    ...(dnsNames
      ? [extension(OID.subjectAltName, false, sequence(...dnsNames.map((name) => tlv(0x82, Buffer.from(name)))))]
      : []),
  );
}

/**
 * A self-signed certificate for an RSA key pair, in PEM: subject = issuer = `CN=commonName`,
 * v3 with the extensions Google's token-signing certificates carry (not a CA, digital signature
 * only, TLS client authentication), or those of a TLS server certificate for `dnsNames`, signed
 * with sha256WithRSAEncryption.
 */
export function createSelfSignedCertificate(
  publicKey: KeyObject,
  privateKey: KeyObject,
  options: CertificateOptions,
): string {
  if (privateKey.asymmetricKeyType !== 'rsa' || publicKey.asymmetricKeyType !== 'rsa') {
    throw new TypeError('createSelfSignedCertificate supports RSA keys only');
  }
  if (!(options.notBefore < options.notAfter)) throw new RangeError('notBefore must be earlier than notAfter');
  const serial = options.serialNumber ?? randomBytes(16);
  if (serial.every((b) => b === 0) || serial.length > 20) {
    throw new RangeError('serialNumber must be positive and at most 20 bytes');
  }
  const algorithm = sequence(objectIdentifier(OID.sha256WithRSAEncryption), NULL);
  const name = sequence(set(sequence(objectIdentifier(OID.commonName), utf8String(options.commonName))));
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name,
    sequence(time(options.notBefore), time(options.notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }), // SubjectPublicKeyInfo, already DER
    explicit(3, extensions(options.dnsNames)),
  );
  const der = sequence(tbs, algorithm, bitString(sign('sha256', tbs, privateKey)));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}
