/**
 * Reading certificates: PEM chains, the fields my-server decides on (names, validity, key
 * identifiers for ARI), and whether a key belongs to a certificate.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { MyServerError } from '../errors.ts';
import { TAG, children, contextTag, decodeOid, decodeString, readWhole, type Element } from './der.ts';
import { OID } from './extensions.ts';
import { ipAddressText } from './names.ts';
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
  /** The contents bytes of the serialNumber INTEGER, leading 0x00 included when present (what ARI's CertID uses, RFC 9773 §4.1). */
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

/** The parsed fields plus the raw pieces the local CA needs to issue below this certificate. Internal to x509/. */
export function decodeCertificate(pemOrDer: string | Uint8Array): { info: CertificateInfo; subjectName: Buffer; spki: Buffer } {
  let der: Buffer;
  let node: X509Certificate;
  try {
    der = typeof pemOrDer === 'string' ? firstCertificateDer(pemOrDer) : Buffer.from(pemOrDer);
    // OpenSSL's parser is the strict check; ours below only picks fields out.
    node = new X509Certificate(der);
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'parsing certificate', { cause: err });
  }
  try {
    return decodeFields(der, node);
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'decoding certificate fields', { cause: err });
  }
}

function firstCertificateDer(pem: string): Buffer {
  const [first] = pemBlocks(pem, 'CERTIFICATE');
  if (first === undefined) throw new MyServerError('MS_ERR_X509', 'no CERTIFICATE PEM block found');
  return first;
}

function decodeFields(der: Buffer, node: X509Certificate): { info: CertificateInfo; subjectName: Buffer; spki: Buffer } {
  const [tbs] = children(readWhole(der, TAG.SEQUENCE));
  if (tbs === undefined) throw new MyServerError('MS_ERR_X509', 'certificate without TBSCertificate');
  const fields = children(tbs);
  // version [0] EXPLICIT is absent for v1 certificates.
  const base = fields[0]?.tag === contextTag(0, true) ? 1 : 0;
  const serial = fields[base];
  const issuer = fields[base + 2];
  const subject = fields[base + 4];
  const spki = fields[base + 5];
  if (serial?.tag !== TAG.INTEGER || issuer === undefined || subject === undefined || spki === undefined) {
    throw new MyServerError('MS_ERR_X509', 'TBSCertificate is missing fields');
  }
  const extensionsField = fields.slice(base + 6).find((f) => f.tag === contextTag(3, true));
  const extensions = extensionsField === undefined ? [] : decodeExtensions(extensionsField);
  const find = (id: string): CertificateExtension | undefined => extensions.find((e) => e.oid === id);

  const { dnsNames, ipAddresses } = decodeSubjectAltName(find(OID.subjectAltName));
  const ski = find(OID.subjectKeyIdentifier);
  const aki = find(OID.authorityKeyIdentifier);
  const akiKeyId = aki === undefined ? undefined : children(readWhole(Buffer.from(aki.value), TAG.SEQUENCE)).find((e) => e.tag === contextTag(0, false));
  const serialNumber = new Uint8Array(serial.contents);
  const info: CertificateInfo = {
    dnsNames,
    ipAddresses,
    subjectCommonName: commonName(subject),
    issuerCommonName: commonName(issuer),
    notBefore: node.validFromDate,
    notAfter: node.validToDate,
    serialNumber,
    serialHex: Buffer.from(serialNumber[0] === 0 && serialNumber.length > 1 ? serialNumber.subarray(1) : serialNumber).toString('hex'),
    ...(ski === undefined ? {} : { subjectKeyIdentifier: new Uint8Array(readWhole(Buffer.from(ski.value), TAG.OCTET_STRING).contents) }),
    ...(akiKeyId === undefined ? {} : { authorityKeyIdentifier: new Uint8Array(akiKeyId.contents) }),
    extensions,
    der: new Uint8Array(der),
    pem: pemEncode(der, 'CERTIFICATE'),
    isCa: node.ca,
  };
  return { info, subjectName: Buffer.from(subject.raw), spki: Buffer.from(spki.raw) };
}

function decodeExtensions(field: Element): CertificateExtension[] {
  const [list] = children(field);
  if (list === undefined) return [];
  return children(list).map((ext) => {
    const parts = children(ext);
    const [id, second, third] = parts;
    if (id === undefined || second === undefined) throw new MyServerError('MS_ERR_X509', 'malformed extension');
    const critical = second.tag === TAG.BOOLEAN && second.contents[0] !== 0;
    const value = second.tag === TAG.BOOLEAN ? third : second;
    if (value?.tag !== TAG.OCTET_STRING) throw new MyServerError('MS_ERR_X509', 'extension without extnValue');
    return { oid: decodeOid(id), critical, value: new Uint8Array(value.contents) };
  });
}

function decodeSubjectAltName(ext: CertificateExtension | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  if (ext === undefined) return { dnsNames, ipAddresses };
  for (const name of children(readWhole(Buffer.from(ext.value), TAG.SEQUENCE))) {
    if (name.tag === contextTag(2, false)) dnsNames.push(name.contents.toString('ascii'));
    if (name.tag === contextTag(7, false)) {
      const ip = ipAddressText(name.contents);
      if (ip !== undefined) ipAddresses.push(ip);
    }
  }
  return { dnsNames, ipAddresses };
}

/** The last commonName of a Name (the most specific one, as OpenSSL and browsers read it). */
function commonName(name: Element): string | undefined {
  let found: string | undefined;
  for (const rdn of children(name)) {
    for (const attribute of children(rdn)) {
      const [type, value] = children(attribute);
      if (type !== undefined && value !== undefined && decodeOid(type) === OID.commonName) found = decodeString(value);
    }
  }
  return found;
}
