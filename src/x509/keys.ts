/**
 * Private keys for certificates: generation, type detection, and the signature algorithm each type
 * signs with.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, type webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import { MyServerError } from '../errors.ts';

export type KeyType = 'p256' | 'p384' | 'rsa2048' | 'rsa4096';

export const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa2048', 'rsa4096'];

const generateKeyPairAsync = promisify(generateKeyPair);

/** A new private key of `type` as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
export async function generatePrivateKeyPem(type: KeyType): Promise<string> {
  return (await generatePrivateKey(type)).keyPem;
}

/**
 * A new private key of `type`: the PKCS#8 PEM that is stored, and the key itself for whoever uses
 * it in this process next (the local CA signs its public key), which then need not parse the PEM
 * back (~80 µs per certificate, issue 12).
 */
export async function generatePrivateKey(type: KeyType): Promise<{ keyPem: string; key: KeyObject }> {
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
  return { keyPem: privateKeyToPem(pair.privateKey), key: pair.privateKey };
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

/** What @peculiar/x509 signs with: a key's WebCrypto pair and the signature algorithm for its type. Internal to x509/. */
export interface SigningKeys {
  readonly keys: webcrypto.CryptoKeyPair;
  readonly signingAlgorithm: webcrypto.EcdsaParams | webcrypto.Algorithm;
}

/**
 * How a key of this type signs certificates and CSRs: ECDSA with the hash that matches the curve's
 * strength (RFC 5480 §4), RSA with PKCS#1 v1.5 and SHA-256. The library writes the matching
 * AlgorithmIdentifier (RFC 5758 §3.2, RFC 4055 §5) and turns WebCrypto's raw r||s ECDSA signature
 * into the DER Ecdsa-Sig-Value X.509 wants.
 */
const ALGORITHMS: Record<KeyType, { key: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams; sign: SigningKeys['signingAlgorithm'] }> = {
  // WebCrypto fixes an RSA key's hash when the key is imported; ECDSA names it per signature.
  p256: { key: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  p384: { key: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  rsa2048: { key: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
  rsa4096: { key: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
};

/** The WebCrypto form of a private key (and its public half), for @peculiar/x509. Internal to x509/. */
export function signingKeys(pem: string | KeyObject): SigningKeys {
  const key = privateKeyFromPem(pem);
  const algorithm = ALGORITHMS[keyTypeOf(key)];
  try {
    return {
      keys: {
        privateKey: key.toCryptoKey(algorithm.key, false, ['sign']),
        publicKey: createPublicKey(key).toCryptoKey(algorithm.key, true, ['verify']),
      },
      signingAlgorithm: algorithm.sign,
    };
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'converting key for signing', { cause: err });
  }
}
