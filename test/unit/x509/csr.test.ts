import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { MyServerError } from '../../../src/errors.ts';
import { createCsr } from '../../../src/x509/csr.ts';
import { KEY_TYPES, generatePrivateKeyPem } from '../../../src/x509/keys.ts';
import { openssl } from './openssl.ts';

/** openssl's view of a DER CSR: its text dump, and whether its self-signature verifies. */
async function inspect(der: Uint8Array): Promise<{ text: string; verified: boolean; publicKeyPem: string }> {
  const dump = await openssl(['req', '-inform', 'DER', '-noout', '-text', '-verify'], { input: der });
  const pub = await openssl(['req', '-inform', 'DER', '-noout', '-pubkey'], { input: der });
  return { text: dump.stdout, verified: dump.code === 0 && /verify OK/.test(dump.stdout + dump.stderr), publicKeyPem: pub.stdout };
}

const EXPECTED_SIGNATURE = { p256: 'ecdsa-with-SHA256', p384: 'ecdsa-with-SHA384', rsa2048: 'sha256WithRSAEncryption', rsa4096: 'sha256WithRSAEncryption' };

for (const type of KEY_TYPES) {
  test(`a ${type} CSR verifies, carries the key's public half and is signed with ${EXPECTED_SIGNATURE[type]}`, async () => {
    const keyPem = await generatePrivateKeyPem(type);
    const csr = await createCsr({ names: ['a.test'], privateKeyPem: keyPem });
    const { text, verified, publicKeyPem } = await inspect(csr);
    assert.ok(verified, text);
    assert.match(text, new RegExp(`Signature Algorithm: ${EXPECTED_SIGNATURE[type]}`));
    assert.equal(publicKeyPem, createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString());
  });
}

test('a CSR lists DNS names and IPv4/IPv6 literals as dNSName and iPAddress SANs, CN = first DNS name', async () => {
  const keyPem = await generatePrivateKeyPem('p256');
  const csr = await createCsr({ names: ['192.0.2.7', 'A.Test.', '[2001:db8::1]', 'www.a.test', 'a.test'], privateKeyPem: keyPem });
  const { text, verified } = await inspect(csr);
  assert.ok(verified);
  assert.match(text, /Subject: CN\s?=\s?a\.test\n/);
  assert.match(text, /DNS:a\.test, DNS:www\.a\.test, IP Address:192\.0\.2\.7, IP Address:2001:DB8:0:0:0:0:0:1\n/);
});

test('a CSR with only IP addresses, or a first DNS name over 64 characters, has an empty subject and a critical SAN', async () => {
  const keyPem = await generatePrivateKeyPem('p256');
  const long = `${'x'.repeat(60)}.example.test`;
  for (const names of [['127.0.0.1', '::1'], [long, 'short.test']]) {
    const { text, verified } = await inspect(await createCsr({ names, privateKeyPem: keyPem }));
    assert.ok(verified);
    assert.match(text, /Subject: *\n/);
    assert.match(text, /X509v3 Subject Alternative Name: critical/);
  }
});

test('a tampered CSR fails openssl verification (the check above can fail)', async () => {
  const csr = Buffer.from(await createCsr({ names: ['a.test'], privateKeyPem: await generatePrivateKeyPem('p256') }));
  const index = csr.indexOf(Buffer.from('a.test'));
  csr[index] = 'b'.charCodeAt(0);
  assert.equal((await inspect(csr)).verified, false);
});

test('createCsr rejects an empty name list and names that are neither DNS names nor IPs', async () => {
  const privateKeyPem = await generatePrivateKeyPem('p256');
  for (const names of [[], ['a b.test'], ['a/../b'], ['fe80::1%eth0']]) {
    await assert.rejects(createCsr({ names, privateKeyPem }), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_X509');
  }
});
