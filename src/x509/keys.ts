/**
 * Private keys for certificates: generation, type detection, and the signature algorithm each type
 * signs with.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { MyServerError } from '../errors.ts';
import { bitString, nullValue, oid, sequence } from './der.ts';

export type KeyType = 'p256' | 'p384' | 'rsa2048' | 'rsa4096';

export const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa2048', 'rsa4096'];

const generateKeyPairAsync = promisify(generateKeyPair);

/** A new private key of `type` as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
export async function generatePrivateKeyPem(type: KeyType): Promise<string> {
  let pair: { privateKey: KeyObject };
  try {
    switch (type) {
      case 'p256':
        pair = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
        break;
      case 'p384':
        pair = await generateKeyPairAsync('ec', { namedCurve: 'secp384r1' });
        break;
      case 'rsa2048':
      case 'rsa4096':
        pair = await generateKeyPairAsync('rsa', { modulusLength: type === 'rsa2048' ? 2048 : 4096, publicExponent: 65537 });
        break;
      default:
        throw new MyServerError('MS_ERR_X509', `unknown key type "${String(type)}"`);
    }
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', `generating ${String(type)} key`, { cause: err });
  }
  return privateKeyToPem(pair.privateKey);
}

/** A KeyObject from a private key PEM (PKCS#8, or the traditional "RSA/EC PRIVATE KEY" forms). */
export function privateKeyFromPem(pem: string | KeyObject): KeyObject {
  if (typeof pem !== 'string') return pem;
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'parsing private key', { cause: err });
  }
}

/** The PKCS#8 PEM of a private key, whatever form it was read from. */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The type of a private key; rejects keys my-server does not issue for (other curves, other RSA sizes). */
export function keyTypeOf(pem: string | KeyObject): KeyType {
  const key = privateKeyFromPem(pem);
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'p256';
    if (details.namedCurve === 'secp384r1') return 'p384';
  }
  if (key.asymmetricKeyType === 'rsa') {
    if (details.modulusLength === 2048) return 'rsa2048';
    if (details.modulusLength === 4096) return 'rsa4096';
  }
  const what = [key.asymmetricKeyType, details.namedCurve ?? details.modulusLength].filter((x) => x !== undefined).join(' ');
  throw new MyServerError('MS_ERR_X509', `unsupported key type: ${what}`);
}

/** The SubjectPublicKeyInfo DER of a private key's public half. */
export function publicKeySpki(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

/**
 * How a key of this type signs certificates and CSRs: ECDSA with the hash that matches the curve's
 * strength (RFC 5480 §4), RSA with PKCS#1 v1.5 and SHA-256. `algorithmIdentifier` is the DER
 * AlgorithmIdentifier: ECDSA ones have no parameters (RFC 5758 §3.2), RSA ones a NULL (RFC 4055 §5).
 */
export function signatureAlgorithmFor(type: KeyType): { hash: 'sha256' | 'sha384'; algorithmIdentifier: Buffer } {
  switch (type) {
    case 'p256':
      return { hash: 'sha256', algorithmIdentifier: sequence(oid('1.2.840.10045.4.3.2')) };
    case 'p384':
      return { hash: 'sha384', algorithmIdentifier: sequence(oid('1.2.840.10045.4.3.3')) };
    case 'rsa2048':
    case 'rsa4096':
      return { hash: 'sha256', algorithmIdentifier: sequence(oid('1.2.840.113549.1.1.11'), nullValue()) };
  }
}

const signAsync = promisify(sign);

/**
 * Signs a to-be-signed structure (TBSCertificate, CertificationRequestInfo) and wraps it as
 * SEQUENCE { tbs, algorithm, BIT STRING signature }. ECDSA signatures come out DER-encoded
 * (Ecdsa-Sig-Value), which is what X.509 wants.
 */
export async function signStructure(tbs: Buffer, key: KeyObject): Promise<Buffer> {
  const { hash, algorithmIdentifier } = signatureAlgorithmFor(keyTypeOf(key));
  const signature = await signAsync(hash, tbs, key);
  return sequence(tbs, algorithmIdentifier, bitString(signature));
}
