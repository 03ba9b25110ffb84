/**
 * Reading certificates: PEM chains, the fields my-server decides on (names, validity, key
 * identifiers for ARI), and whether a key belongs to a certificate.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { MyServerError } from '../errors.ts';
import { normalizeIpAddress } from './names.ts';
import { x509 } from './peculiar.ts';
import { pemBlocks, pemEncode } from './pem.ts';

export interface CertificateExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** extnValue: the DER of the extension's value, without the OCTET STRING wrapper. */
  readonly value: Uint8Array;
}

export interface CertificateInfo {
  /** dNSName SANs, as written in the certificate. */
  readonly dnsNames: readonly string[];
  /** iPAddress SANs in canonical text (RFC 5952 for IPv6). */
  readonly ipAddresses: readonly string[];
  readonly subjectCommonName: string | undefined;
  readonly issuerCommonName: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /**
   * The contents bytes of the serialNumber INTEGER, leading 0x00 included when present (what ARI's
   * CertID uses, RFC 9773 §4.1), for the positive serials RFC 5280 §4.1.2.2 requires.
   */
  readonly serialNumber: Uint8Array;
  /** The serial as lower-case hex of its value, without a sign byte (as `openssl x509 -serial` prints it). */
  readonly serialHex: string;
  readonly authorityKeyIdentifier?: Uint8Array;
  readonly subjectKeyIdentifier?: Uint8Array;
  readonly extensions: readonly CertificateExtension[];
  readonly der: Uint8Array;
  readonly pem: string;
  readonly isCa: boolean;
}

/** Every CERTIFICATE block of a PEM bundle, each re-armoured canonically, in order. Other blocks are ignored. */
export function splitPemChain(pem: string): string[] {
  return pemBlocks(pem, 'CERTIFICATE').map((der) => pemEncode(der, 'CERTIFICATE'));
}

/** Parses one certificate: the first CERTIFICATE block of a PEM string, or DER bytes. Throws MS_ERR_X509 when malformed. */
export function parseCertificate(pemOrDer: string | Uint8Array): CertificateInfo {
  return decodeCertificate(pemOrDer).info;
}

/** True when `keyPem` is the private key of `certPem`'s public key; false also when either does not parse. */
export function certificateMatchesKey(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** The parsed fields plus the library's certificate, which the local CA issues below. Internal to x509/. */
export function decodeCertificate(pemOrDer: string | Uint8Array): { info: CertificateInfo; certificate: x509.X509Certificate } {
  let der: Buffer;
  let node: X509Certificate;
  try {
    der = typeof pemOrDer === 'string' ? firstCertificateDer(pemOrDer) : Buffer.from(pemOrDer);
    // OpenSSL's parser is the strict check: what passes it is what a TLS server will load.
    node = new X509Certificate(der);
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'parsing certificate', { cause: err });
  }
  try {
    const certificate = new x509.X509Certificate(der);
    return { info: decodeFields(der, certificate, node), certificate };
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'decoding certificate fields', { cause: err });
  }
}

function firstCertificateDer(pem: string): Buffer {
  const [first] = pemBlocks(pem, 'CERTIFICATE');
  if (first === undefined) throw new MyServerError('MS_ERR_X509', 'no CERTIFICATE PEM block found');
  return first;
}

function decodeFields(der: Buffer, cert: x509.X509Certificate, node: X509Certificate): CertificateInfo {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  // The library leaves out GeneralNames it has no text form for (otherName, x400Address …).
  for (const name of cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? []) {
    if (name.type === 'dns') dnsNames.push(name.value);
    if (name.type === 'ip') {
      // The library's IPv6 text is not RFC 5952 ("::ffff:102:304"); lengths other than 4 and 16
      // come out as "address/prefix" and are dropped here.
      const ip = normalizeIpAddress(name.value);
      if (ip !== undefined) ipAddresses.push(ip);
    }
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  // The library gives the serial's value in hex, without the sign byte DER adds when the top bit is set.
  const serialHex = cert.serialNumber.toLowerCase();
  const magnitude = Buffer.from(serialHex, 'hex');
  const serialNumber = new Uint8Array((magnitude[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude);
  return {
    dnsNames,
    ipAddresses,
    subjectCommonName: cert.subjectName.getField('CN').at(-1),
    issuerCommonName: cert.issuerName.getField('CN').at(-1),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serialNumber,
    serialHex,
    ...(ski === undefined ? {} : { subjectKeyIdentifier: new Uint8Array(Buffer.from(ski, 'hex')) }),
    ...(aki === undefined ? {} : { authorityKeyIdentifier: new Uint8Array(Buffer.from(aki, 'hex')) }),
    extensions: cert.extensions.map((e) => ({ oid: e.type, critical: e.critical, value: new Uint8Array(e.value) })),
    der: new Uint8Array(der),
    pem: pemEncode(der, 'CERTIFICATE'),
    isCa: node.ca,
  };
}
