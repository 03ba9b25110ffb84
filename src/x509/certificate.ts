/**
 * Reading certificates: PEM chains, the fields my-server decides on (names, validity, key
 * identifiers for ARI), and whether a key belongs to a certificate.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { MyServerError } from '../errors.ts';
import { children, oidText, readTime, readTlv, sequence, TAG, type Tlv } from './der.ts';
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
  const { der, node } = readCertificate(pemOrDer);
  try {
    return decodeFields(der, node);
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'decoding certificate fields', { cause: err });
  }
}

/** True when `keyPem` is the private key of `certPem`'s public key; false also when either does not parse. */
export function certificateMatchesKey(certPem: string, keyPem: string | KeyObject): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(typeof keyPem === 'string' ? createPrivateKey(keyPem) : keyPem);
  } catch {
    return false;
  }
}

/**
 * True when the first certificate of `chainPem` has serial `serialHex` (as CertificateInfo.serialHex
 * gives it) and `keyPem` is its private key; false also when either does not parse. What
 * certificateMatchesKey and parseCertificate(...).serialHex tell together, with one OpenSSL parse
 * of the certificate and none of the fields load does not need: it runs on every certificate
 * load, on the handshake path of on-demand names (issue 12).
 */
export function leafMatches(chainPem: string, keyPem: string, serialHex: string): boolean {
  try {
    const der = firstCertificateDer(chainPem);
    const tbs = readTbs(der);
    if (serialHexOf(tbs.serial) !== serialHex) return false;
    const embedded = publicKeyInPrivateKeyPem(keyPem);
    // Only like with like: an EC key against an EC certificate's uncompressed point, an RSA key
    // against an rsaEncryption certificate. Anything else (RSA-PSS, a compressed point) OpenSSL decides.
    if (embedded !== undefined && embedded.algorithm === tbs.publicKeyAlgorithm && (embedded.algorithm !== OID_EC_PUBLIC_KEY || tbs.publicKeyBits[0] === 0x04)) {
      return embedded.bits.equals(tbs.publicKeyBits);
    }
    return new X509Certificate(der).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';

/**
 * The public key a private key PEM carries, as a certificate's subjectPublicKey bits hold it (an
 * uncompressed EC point; for RSA the DER RSAPublicKey of its modulus and exponent), with the
 * algorithm's OID as a certificate names it, read from the DER alone; undefined when the key
 * carries none (Ed25519, an EC key written without its point or with a compressed one), is of
 * another kind (RSA-PSS, encrypted), or the text holds more than one private key block (OpenSSL
 * reads the first of any kind), so OpenSSL has to tell.
 *
 * Why: for EC and RSA keys OpenSSL's X509_check_private_key comes down to comparing the public
 * parts (EVP_PKEY_eq, with an EC key's embedded point as read); doing that on bytes spares
 * parsing the certificate and the key into OpenSSL objects: ~0.15 ms of the ~2 ms a stored
 * certificate's load costs on the on-demand handshake path (issue 12). Neither this nor
 * OpenSSL's check tests the private half against the public one; the SecureContext built from the
 * pair (ContextCache.install) is where OpenSSL parses the key itself. Exported for its tests.
 */
export function publicKeyInPrivateKeyPem(keyPem: string): { readonly algorithm: string; readonly bits: Buffer } | undefined {
  const labels = [...keyPem.matchAll(PRIVATE_KEY_BEGIN)];
  if (labels.length !== 1) return undefined;
  const label = labels[0]![1]!;
  const der = pemBlocks(keyPem, label)[0];
  if (der === undefined) return undefined;
  switch (label) {
    case 'PRIVATE KEY': {
      // PrivateKeyInfo (RFC 5208 §5): version, algorithm, privateKey OCTET STRING, ...
      const [, algorithm, privateKey] = children(readTlv(der).content);
      if (algorithm?.tag !== TAG.sequence || privateKey?.tag !== TAG.octetString) return undefined;
      const oid = children(algorithm.content)[0];
      if (oid?.tag !== TAG.oid) return undefined;
      const kind = oidText(oid.content);
      if (kind === OID_EC_PUBLIC_KEY) return keyBits(kind, ecPoint(privateKey.content));
      if (kind === OID_RSA_ENCRYPTION) return keyBits(kind, rsaPublicKey(privateKey.content));
      return undefined;
    }
    case 'EC PRIVATE KEY':
      return keyBits(OID_EC_PUBLIC_KEY, ecPoint(der));
    case 'RSA PRIVATE KEY':
      return keyBits(OID_RSA_ENCRYPTION, rsaPublicKey(der));
    default:
      return undefined; // ENCRYPTED PRIVATE KEY and other forms
  }
}

/** Any PEM private key block's first line, with its label ("PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", …). */
const PRIVATE_KEY_BEGIN = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----/g;

function keyBits(algorithm: string, bits: Buffer | undefined): { readonly algorithm: string; readonly bits: Buffer } | undefined {
  return bits === undefined ? undefined : { algorithm, bits };
}

/** ECPrivateKey (RFC 5915 §3): the point of its [1] publicKey BIT STRING, if present. */
function ecPoint(ecPrivateKey: Buffer): Buffer | undefined {
  const root = readTlv(ecPrivateKey);
  if (root.tag !== TAG.sequence) return undefined;
  const tagged = children(root.content).find((c) => c.tag === 0xa1);
  const bits = tagged === undefined ? undefined : readTlv(tagged.content);
  // Uncompressed points only (0x04 first): a compressed one is another encoding of the same key.
  if (bits?.tag !== TAG.bitString || bits.content.length < 2 || bits.content[0] !== 0 || bits.content[1] !== 0x04) return undefined;
  return bits.content.subarray(1);
}

/** RSAPrivateKey (RFC 8017 §A.1.2): version, modulus, publicExponent, ... as the DER RSAPublicKey. */
function rsaPublicKey(rsaPrivateKey: Buffer): Buffer | undefined {
  const root = readTlv(rsaPrivateKey);
  if (root.tag !== TAG.sequence) return undefined;
  const [, modulus, exponent] = children(root.content);
  if (modulus?.tag !== TAG.integer || exponent?.tag !== TAG.integer) return undefined;
  return sequence(modulus.raw, exponent.raw);
}

/** The serial's value as hex, without the sign byte DER adds when the top bit is set. */
function serialHexOf(serial: Buffer): string {
  return serialMagnitude(serial).toString('hex');
}

/** A DER INTEGER's content without the sign byte DER adds when the top bit is set. */
function serialMagnitude(serial: Buffer): Buffer {
  return serial.length > 1 && serial[0] === 0 && (serial[1]! & 0x80) !== 0 ? serial.subarray(1) : serial;
}

function readCertificate(pemOrDer: string | Uint8Array): { der: Buffer; node: X509Certificate } {
  try {
    const der = typeof pemOrDer === 'string' ? firstCertificateDer(pemOrDer) : Buffer.from(pemOrDer);
    // OpenSSL's parser is the strict check: what passes it is what a TLS server will load.
    return { der, node: new X509Certificate(der) };
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'parsing certificate', { cause: err });
  }
}

function firstCertificateDer(pem: string): Buffer {
  const [first] = pemBlocks(pem, 'CERTIFICATE');
  if (first === undefined) throw new MyServerError('MS_ERR_X509', 'no CERTIFICATE PEM block found');
  return first;
}

/** The TBSCertificate fields (RFC 5280 §4.1) as DER elements. Internal to x509/. */
export interface TbsFields {
  readonly serial: Buffer;
  readonly issuer: Tlv;
  readonly subject: Tlv;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subjectPublicKey BIT STRING's bits, without the unused-bits byte (what key identifiers hash). */
  readonly publicKeyBits: Buffer;
  /** The subjectPublicKeyInfo's algorithm OID, dotted ("1.2.840.10045.2.1" for EC). */
  readonly publicKeyAlgorithm: string;
  readonly extensions: readonly { readonly oid: string; readonly critical: boolean; readonly value: Buffer }[];
}

/** Reads the fields my-server uses from a certificate's DER (already accepted by OpenSSL). Internal to x509/. */
export function readTbs(der: Buffer): TbsFields {
  const [tbs] = children(readTlv(der).content);
  if (tbs?.tag !== TAG.sequence) throw new MyServerError('MS_ERR_X509', 'no TBSCertificate');
  const parts = children(tbs.content);
  let i = parts[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  const [serial, , issuer, validity, subject, spki] = parts.slice(i, (i += 6));
  if (serial === undefined || issuer === undefined || validity === undefined || subject === undefined || spki === undefined) {
    throw new MyServerError('MS_ERR_X509', 'truncated TBSCertificate');
  }
  const [notBefore, notAfter] = children(validity.content);
  const [algorithm, bits] = children(spki.content);
  const algorithmOid = algorithm === undefined ? undefined : children(algorithm.content)[0];
  if (notBefore === undefined || notAfter === undefined || bits === undefined || algorithmOid?.tag !== TAG.oid) throw new MyServerError('MS_ERR_X509', 'truncated TBSCertificate');
  const extensions: { oid: string; critical: boolean; value: Buffer }[] = [];
  const wrapper = parts.slice(i).find((p) => p.tag === 0xa3); // [3] EXPLICIT Extensions
  const list = wrapper === undefined ? undefined : children(wrapper.content)[0];
  for (const ext of list === undefined ? [] : children(list.content)) {
    const [oid, second, third] = children(ext.content);
    const value = third ?? second;
    if (oid?.tag !== TAG.oid || value?.tag !== TAG.octetString) throw new MyServerError('MS_ERR_X509', 'malformed extension');
    extensions.push({ oid: oidText(oid.content), critical: third !== undefined && second?.tag === TAG.boolean && second.content[0] !== 0, value: value.content });
  }
  return { serial: serial.content, issuer, subject, notBefore: readTime(notBefore), notAfter: readTime(notAfter), publicKeyBits: bits.content.subarray(1), publicKeyAlgorithm: oidText(algorithmOid.content), extensions };
}

const OID_SAN = '2.5.29.17';
const OID_SKI = '2.5.29.14';
const OID_AKI = '2.5.29.35';
const OID_CN = '2.5.4.3';

function decodeFields(der: Buffer, node: X509Certificate): CertificateInfo {
  const tbs = readTbs(der);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const extension = (oid: string): Buffer | undefined => tbs.extensions.find((e) => e.oid === oid)?.value;
  const san = extension(OID_SAN);
  // GeneralNames other than dNSName [2] and iPAddress [7] (otherName, directoryName …) are not names my-server serves.
  for (const name of san === undefined ? [] : children(readTlv(san).content)) {
    if (name.tag === 0x82) dnsNames.push(name.content.toString('latin1'));
    if (name.tag === 0x87) {
      // Lengths other than 4 and 16 are address/mask pairs (name constraints), not addresses.
      const ip = ipAddressText(name.content);
      if (ip !== undefined) ipAddresses.push(ip);
    }
  }
  const skiValue = extension(OID_SKI);
  const ski = skiValue === undefined ? undefined : readTlv(skiValue).content;
  const akiValue = extension(OID_AKI);
  const aki = akiValue === undefined ? undefined : children(readTlv(akiValue).content).find((t) => t.tag === 0x80)?.content;
  // serialHex is the value without the sign byte DER adds when the top bit is set; serialNumber keeps it.
  const magnitude = serialMagnitude(tbs.serial);
  const serialHex = magnitude.toString('hex');
  const serialNumber = new Uint8Array((magnitude[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude);
  return {
    dnsNames,
    ipAddresses,
    subjectCommonName: lastCommonName(tbs.subject),
    issuerCommonName: lastCommonName(tbs.issuer),
    notBefore: tbs.notBefore,
    notAfter: tbs.notAfter,
    serialNumber,
    serialHex,
    ...(ski === undefined ? {} : { subjectKeyIdentifier: new Uint8Array(ski) }),
    ...(aki === undefined ? {} : { authorityKeyIdentifier: new Uint8Array(aki) }),
    extensions: tbs.extensions.map((e) => ({ oid: e.oid, critical: e.critical, value: new Uint8Array(e.value) })),
    der: new Uint8Array(der),
    pem: pemEncode(der, 'CERTIFICATE'),
    isCa: node.ca,
  };
}

/** The last commonName of a Name (RDNSequence), as the most specific one. */
function lastCommonName(name: Tlv): string | undefined {
  let cn: string | undefined;
  for (const rdn of children(name.content)) {
    for (const atv of children(rdn.content)) {
      const [oid, value] = children(atv.content);
      if (oid?.tag === TAG.oid && value !== undefined && oidText(oid.content) === OID_CN) cn = directoryString(value);
    }
  }
  return cn;
}

/** DirectoryString (RFC 5280 §4.1.2.4) and the other string types a CN is found in. */
function directoryString(t: Tlv): string {
  switch (t.tag) {
    case 0x1e: // BMPString: UTF-16BE
      return Buffer.from(t.content).swap16().toString('utf16le');
    case 0x1c: {
      // UniversalString: UTF-32BE
      let out = '';
      for (let i = 0; i + 3 < t.content.length; i += 4) out += String.fromCodePoint(t.content.readUInt32BE(i));
      return out;
    }
    case 0x14: // TeletexString, read as Latin-1 as OpenSSL does
      return t.content.toString('latin1');
    default: // UTF8String, PrintableString, IA5String, VisibleString
      return t.content.toString('utf8');
  }
}
