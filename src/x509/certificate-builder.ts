/** Assembles and signs X.509 v3 certificates (RFC 5280 §4.1). Internal to x509/. */
import { randomBytes, type KeyObject } from 'node:crypto';
import { contextTag, sequence, smallInteger, time, tlv, unsignedInteger } from './der.ts';
import { extensionsField } from './extensions.ts';
import { keyTypeOf, signStructure, signatureAlgorithmFor } from './keys.ts';

export interface CertificateTemplate {
  /** DER Name of the issuer: copied byte for byte from the issuer's subject so chain building matches. */
  readonly issuerName: Buffer;
  readonly subjectName: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo DER of the certified key. */
  readonly spki: Buffer;
  /** Encoded Extension elements. */
  readonly extensions: readonly Buffer[];
}

/**
 * A positive serial of 126 random bits. RFC 5280 §4.1.2.2 allows up to 20 octets; the CA/B Forum
 * asks for at least 64 bits from a CSPRNG. The top bit is cleared so the INTEGER stays positive
 * and the next one set so the encoding is always 16 bytes without a sign byte.
 */
export function randomSerialNumber(): Buffer {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial;
}

export async function buildCertificate(template: CertificateTemplate, signingKey: KeyObject): Promise<Buffer> {
  const { algorithmIdentifier } = signatureAlgorithmFor(keyTypeOf(signingKey));
  const tbs = sequence(
    tlv(contextTag(0, true), smallInteger(2)), // v3
    unsignedInteger(randomSerialNumber()),
    algorithmIdentifier,
    template.issuerName,
    sequence(time(template.notBefore), time(template.notAfter)),
    template.subjectName,
    template.spki,
    extensionsField(template.extensions),
  );
  return signStructure(tbs, signingKey);
}
