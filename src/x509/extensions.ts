/**
 * Encoders for the names and extensions x509/ puts in certificates and CSRs (RFC 5280 §4.1.2.4,
 * §4.2.1). Internal to x509/.
 */
import { createHash } from 'node:crypto';
import { bitString, boolean, children, contextTag, octetString, oid, readWhole, sequence, setOf, smallInteger, tlv, utf8String } from './der.ts';
import { MyServerError } from '../errors.ts';
import { ipAddressBytes } from './names.ts';

export const OID = {
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  /** RFC 8737 §6.1: id-pe-acmeIdentifier. */
  acmeIdentifier: '1.3.6.1.5.5.7.1.31',
  /** PKCS#9 extensionRequest (RFC 2985 §5.4.2), the CSR attribute that carries extensions. */
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

/** RFC 5280 §4.1.2.6 caps a commonName at 64 characters (ub-common-name). */
export const MAX_COMMON_NAME = 64;

/** A Name with at most one RDN, the commonName; no common name gives the empty Name. */
export function distinguishedName(commonName?: string): Buffer {
  if (commonName === undefined) return sequence();
  return sequence(setOf(sequence(oid(OID.commonName), utf8String(commonName))));
}

/** The common name a certificate for `dnsNames` carries: the first DNS name when it fits, else none. */
export function commonNameFor(dnsNames: readonly string[]): string | undefined {
  const first = dnsNames[0];
  return first !== undefined && first.length <= MAX_COMMON_NAME ? first : undefined;
}

export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  // DER leaves out a BOOLEAN equal to its DEFAULT (FALSE): X.690 §11.5.
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/**
 * SubjectAltName with dNSName [2] and iPAddress [7] entries. RFC 5280 §4.2.1.6: "If the subject
 * field contains an empty sequence, then the issuing CA MUST include a subjectAltName extension that
 * is marked as critical", so pass `critical` = true for an empty subject.
 */
export function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly string[], critical: boolean): Buffer {
  const names = [
    ...dnsNames.map((n) => tlv(contextTag(2, false), Buffer.from(n, 'ascii'))),
    ...ipAddresses.map((ip) => tlv(contextTag(7, false), ipAddressBytes(ip))),
  ];
  return extension(OID.subjectAltName, critical, sequence(...names));
}

export function basicConstraints(ca: boolean, pathLength?: number): Buffer {
  const value = ca ? sequence(boolean(true), ...(pathLength === undefined ? [] : [smallInteger(pathLength)])) : sequence();
  return extension(OID.basicConstraints, true, value);
}

export const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/** KeyUsage as a DER named-bit BIT STRING: trailing zero bits dropped, their count in the first byte. */
export function keyUsage(bits: readonly (keyof typeof KEY_USAGE)[]): Buffer {
  let byte = 0;
  for (const bit of bits) byte |= 0x80 >> KEY_USAGE[bit];
  let unused = 0;
  while (unused < 7 && ((byte >> unused) & 1) === 0) unused++;
  return extension(OID.keyUsage, true, bitString(Buffer.from([byte]), unused));
}

export function extendedKeyUsage(purposes: readonly string[]): Buffer {
  return extension(OID.extKeyUsage, false, sequence(...purposes.map((p) => oid(p))));
}

/**
 * A key identifier by RFC 5280 §4.2.1.2 method (1): the SHA-1 of the subjectPublicKey BIT STRING
 * (without tag, length and unused-bits byte). SHA-1 only names the key here; nothing relies on it
 * for security.
 */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, subjectPublicKey] = children(readWhole(spki));
  if (subjectPublicKey === undefined) throw new MyServerError('MS_ERR_X509', 'SubjectPublicKeyInfo without a key');
  return createHash('sha1').update(subjectPublicKey.contents.subarray(1)).digest();
}

export function subjectKeyIdentifier(keyId: Buffer): Buffer {
  return extension(OID.subjectKeyIdentifier, false, octetString(keyId));
}

export function authorityKeyIdentifier(keyId: Buffer): Buffer {
  return extension(OID.authorityKeyIdentifier, false, sequence(tlv(contextTag(0, false), keyId)));
}

/** The [3] EXPLICIT Extensions wrapper of a TBSCertificate. */
export function extensionsField(extensions: readonly Buffer[]): Buffer {
  return tlv(contextTag(3, true), sequence(...extensions));
}
