import { KeyObject, createPrivateKey, createPublicKey, generateKeyPair, type webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import type { FlattenedJWS, JWK, JWSHeaderParameters } from 'jose';
import { MyServerError } from '../errors.ts';

/**
 * Account keys and the JWS objects of RFC 8555 §6.2. Requests use the flattened JSON serialization
 * with a protected header only; a header carries exactly one of `jwk` and `kid`.
 */

/** A key pair from WebCrypto, a private KeyObject, or a PEM private key (PKCS#8, SEC1 or PKCS#1). */
export type AccountKeyInput = webcrypto.CryptoKeyPair | KeyObject | string;

/** The algorithms CAs accept for account keys; ES256 is what Let's Encrypt recommends. */
export type AccountKeyAlg = 'ES256' | 'ES384' | 'RS256';

export interface SigningKey {
  readonly alg: AccountKeyAlg;
  readonly privateKey: webcrypto.CryptoKey | KeyObject;
  /** The public key as a JWK with only its required members. */
  readonly jwk: JWK;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** Reads an account key and works out its JWS algorithm. Throws MS_ERR_USAGE for unusable keys. */
export function loadAccountKey(input: AccountKeyInput): SigningKey {
  try {
    if (typeof input === 'string') return fromKeyObject(createPrivateKey(input));
    if (input instanceof KeyObject) return fromKeyObject(input);
    return fromCryptoKeyPair(input);
  } catch (err) {
    if (err instanceof MyServerError) throw err;
    throw new MyServerError('MS_ERR_USAGE', 'loading account key', { cause: err });
  }
}

/** A new account key as PKCS#8 PEM, to keep in storage. */
export async function generateAccountKey(alg: AccountKeyAlg = 'ES256'): Promise<string> {
  const { privateKey } =
    alg === 'RS256'
      ? await generateKeyPairAsync('rsa', { modulusLength: 2048 })
      : await generateKeyPairAsync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** base64url(SHA-256 JWK thumbprint) (RFC 7638), the account part of key authorizations. */
export async function jwkThumbprint(jwk: JWK): Promise<string> {
  return (await jose()).calculateJwkThumbprint(jwk, 'sha256');
}

export interface AcmeJwsInput {
  readonly key: SigningKey;
  readonly url: string;
  /** Omitted only for the inner JWS of a key change (RFC 8555 §7.3.5). */
  readonly nonce?: string;
  /** The account URL; when undefined the header carries the public key as `jwk`. */
  readonly kid?: string;
  /** undefined means POST-as-GET: the payload is the empty string (RFC 8555 §6.3). */
  readonly payload: unknown;
}

/** Signs one ACME request body. */
export async function signAcmeJws(input: AcmeJwsInput): Promise<FlattenedJWS> {
  const header: JWSHeaderParameters = { alg: input.key.alg, url: input.url };
  if (input.nonce !== undefined) header.nonce = input.nonce;
  if (input.kid !== undefined) header.kid = input.kid;
  else header.jwk = input.key.jwk;
  const payload = input.payload === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(input.payload));
  return new (await jose()).FlattenedSign(payload).setProtectedHeader(header).sign(input.key.privateKey);
}

/**
 * RFC 8555 §7.3.4: "The payload of this JWS is the ACME account key being registered, in JWK form."
 * The protected header has a MAC "alg", the CA's "kid", no "nonce", and "url" equal to the outer
 * JWS's (the newAccount URL). The CA hands out the MAC key base64url-encoded.
 */
export async function signEabJws(input: { kid: string; hmacKey: string; url: string; accountJwk: JWK }): Promise<FlattenedJWS> {
  const secret = Buffer.from(input.hmacKey, 'base64url');
  if (secret.length === 0) throw new MyServerError('MS_ERR_USAGE', 'external account binding: empty HMAC key');
  const payload = new TextEncoder().encode(JSON.stringify(input.accountJwk));
  return new (await jose()).FlattenedSign(payload)
    .setProtectedHeader({ alg: 'HS256', kid: input.kid, url: input.url })
    .sign(new Uint8Array(secret));
}

/**
 * RFC 8555 §7.3.5: the inner JWS is signed by the new key, carries it as "jwk", has the same "url"
 * as the outer JWS and no "nonce"; its payload names the account and the old key.
 */
export async function signKeyChangeInner(input: {
  newKey: SigningKey;
  url: string;
  accountUrl: string;
  oldJwk: JWK;
}): Promise<FlattenedJWS> {
  return signAcmeJws({ key: input.newKey, url: input.url, payload: { account: input.accountUrl, oldKey: input.oldJwk } });
}

function fromKeyObject(key: KeyObject): SigningKey {
  if (key.type !== 'private') throw new MyServerError('MS_ERR_USAGE', `account key must be a private key, got ${key.type}`);
  return { alg: algOfKeyObject(key), privateKey: key, jwk: publicJwk(createPublicKey(key)) };
}

function fromCryptoKeyPair(pair: webcrypto.CryptoKeyPair): SigningKey {
  const alg = algOfCryptoKey(pair.privateKey);
  return { alg, privateKey: pair.privateKey, jwk: publicJwk(KeyObject.from(pair.publicKey)) };
}

function algOfKeyObject(key: KeyObject): AccountKeyAlg {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    throw new MyServerError('MS_ERR_USAGE', `unsupported account key curve ${String(curve)} (use P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new MyServerError('MS_ERR_USAGE', 'RSA account keys must be at least 2048 bits');
    return 'RS256';
  }
  throw new MyServerError('MS_ERR_USAGE', `unsupported account key type ${String(key.asymmetricKeyType)} (use EC P-256, P-384 or RSA)`);
}

function algOfCryptoKey(key: webcrypto.CryptoKey): AccountKeyAlg {
  const algo = key.algorithm as { name: string; namedCurve?: string; hash?: { name: string } };
  if (algo.name === 'ECDSA' && algo.namedCurve === 'P-256') return 'ES256';
  if (algo.name === 'ECDSA' && algo.namedCurve === 'P-384') return 'ES384';
  if (algo.name === 'RSASSA-PKCS1-v1_5' && algo.hash?.name === 'SHA-256') return 'RS256';
  throw new MyServerError('MS_ERR_USAGE', `unsupported account key algorithm ${algo.name} ${algo.namedCurve ?? algo.hash?.name ?? ''}`.trim());
}

/** Only the members RFC 7638 requires, so the header and the thumbprint agree on one JWK. */
function publicJwk(key: KeyObject): JWK {
  const j = key.export({ format: 'jwk' });
  if (j.kty === 'EC') return { kty: 'EC', crv: j.crv, x: j.x, y: j.y } as JWK;
  return { kty: 'RSA', n: j.n, e: j.e } as JWK;
}

/** jose is loaded at the first signature, not by every config that could talk to a CA (issue 12: idle memory). */
function jose(): Promise<typeof import('jose')> {
  return import('jose');
}
