/**
 * The TLS-ALPN-01 validation certificate (RFC 8737 §3, RFC 8738 §6 for IP identifiers).
 *
 * RFC 8737 §3: "The client prepares for validation by constructing a self-signed certificate that
 * MUST contain an acmeIdentifier extension and a subjectAlternativeName extension [RFC5280]. The
 * subjectAlternativeName extension MUST contain a single dNSName entry where the value is the
 * domain name being validated. The acmeIdentifier extension MUST contain the SHA-256 digest
 * [FIPS180-4] of the key authorization [RFC8555] for the challenge. The acmeIdentifier extension
 * MUST be critical so that the certificate isn't inadvertently used by non-ACME software."
 *
 *   id-pe-acmeIdentifier OBJECT IDENTIFIER ::= { id-pe 31 }
 *   Authorization ::= OCTET STRING (SIZE (32))
 *
 * "The extnValue of the id-pe-acmeIdentifier extension is the ASN.1 DER encoding of the
 * Authorization structure", so the extension value is 04 20 || SHA-256(keyAuthorization).
 */
import { createHash } from 'node:crypto';
import { MyServerError } from '../errors.ts';
import { generatePrivateKeyPem, signingKeys } from './keys.ts';
import { classifyNames, normalizeIpAddress } from './names.ts';
import { x509 } from './peculiar.ts';
import { pemEncode } from './pem.ts';
import { subjectAltName, subjectName } from './subject.ts';

/** RFC 8737 §6.1: id-pe-acmeIdentifier. */
const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

export interface ChallengeIdentifier {
  readonly type: 'dns' | 'ip';
  readonly value: string;
}

/**
 * The extnValue of id-pe-acmeIdentifier for a key authorization: DER OCTET STRING of its SHA-256.
 * The library has no public encoder for a bare OCTET STRING; none is needed, since SIZE (32) fixes
 * the header: tag 0x04, length 0x20.
 */
export function acmeIdentifierValue(keyAuthorization: string): Buffer {
  return Buffer.concat([Buffer.from([0x04, 0x20]), createHash('sha256').update(keyAuthorization, 'utf8').digest()]);
}

/**
 * A fresh P-256 key and a self-signed certificate whose only SAN is the identifier (dNSName, or
 * iPAddress per RFC 8738 §6) and which carries the critical acmeIdentifier extension.
 * The certificate is valid from an hour ago (clock skew) for a week; validators ignore validity.
 */
export async function createTlsAlpnChallengeCertificate(
  identifier: ChallengeIdentifier,
  keyAuthorization: string,
): Promise<{ certPem: string; keyPem: string }> {
  let san: x509.Extension;
  if (identifier.type === 'ip') {
    const ip = normalizeIpAddress(identifier.value);
    if (ip === undefined) throw new MyServerError('MS_ERR_X509', `"${identifier.value}" is not an IP address`);
    san = subjectAltName([], [ip], false);
  } else {
    const { dnsNames } = classifyNames([identifier.value]);
    if (dnsNames.length !== 1) throw new MyServerError('MS_ERR_X509', `"${identifier.value}" is not a DNS name`);
    san = subjectAltName(dnsNames, [], false);
  }
  const keyPem = await generatePrivateKeyPem('p256');
  const { keys, signingAlgorithm } = signingKeys(keyPem);
  const now = Date.now();
  try {
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      // A fixed, non-empty subject so the SAN need not be critical; validators look only at SAN and extension.
      name: subjectName('ACME challenge'),
      keys,
      signingAlgorithm,
      notBefore: new Date(now - 60 * 60 * 1000),
      notAfter: new Date(now + 7 * 24 * 60 * 60 * 1000),
      extensions: [san, new x509.Extension(ACME_IDENTIFIER_OID, true, acmeIdentifierValue(keyAuthorization))],
    });
    return { certPem: pemEncode(cert.rawData, 'CERTIFICATE'), keyPem };
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', `creating tls-alpn-01 certificate for ${identifier.value}`, { cause: err });
  }
}
