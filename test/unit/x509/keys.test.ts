import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { MyServerError } from '../../../src/errors.ts';
import { KEY_TYPES, generatePrivateKeyPem, keyTypeOf, privateKeyFromPem, privateKeyToPem } from '../../../src/x509/keys.ts';

for (const type of KEY_TYPES) {
  test(`generatePrivateKeyPem(${type}) returns PKCS#8 PEM that keyTypeOf reads back as ${type}`, async () => {
    const pem = await generatePrivateKeyPem(type);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
    assert.equal(keyTypeOf(pem), type);
  });
}

test('keyTypeOf reads traditional SEC1 and PKCS#1 PEM too', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  assert.match(ec, /BEGIN EC PRIVATE KEY/);
  assert.equal(keyTypeOf(ec), 'p384');
  assert.equal(keyTypeOf(rsa), 'rsa2048');
  assert.match(privateKeyToPem(privateKeyFromPem(rsa)), /^-----BEGIN PRIVATE KEY-----/);
});

test('keyTypeOf rejects other curves, other RSA sizes, Ed25519 and garbage with MS_ERR_X509', () => {
  const others = [
    generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey,
    generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey,
    generateKeyPairSync('ed25519').privateKey,
  ].map((k) => k.export({ type: 'pkcs8', format: 'pem' }).toString());
  for (const pem of [...others, 'not a key']) {
    assert.throws(() => keyTypeOf(pem), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_X509');
  }
  // The KeyObject path agrees with the PEM path.
  assert.throws(() => keyTypeOf(createPrivateKey(others[2] ?? '')), MyServerError);
});
