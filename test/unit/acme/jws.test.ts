import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { flattenedVerify, type JWK } from 'jose';
import { AcmeClient } from '../../../src/acme/client.ts';
import { generateAccountKey } from '../../../src/acme/jws.ts';
import { startFakeCa, type FakeCa, type RecordedRequest } from './fake-ca.ts';

function publicJwkOf(pem: string): JWK {
  const j = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' });
  return j.kty === 'EC' ? { kty: 'EC', crv: String(j.crv), x: String(j.x), y: String(j.y) } : { kty: 'RSA', n: String(j.n), e: String(j.e) };
}

async function verifiedBy(req: RecordedRequest, pem: string): Promise<void> {
  assert.ok(req.jws, `request to ${req.path} is a JWS`);
  await flattenedVerify(req.jws, createPublicKey(createPrivateKey(pem)));
}

async function withCa(fn: (ca: FakeCa) => Promise<void>): Promise<void> {
  const ca = await startFakeCa();
  try {
    await fn(ca);
  } finally {
    await ca.close();
  }
}

test('newAccount carries the key as jwk; later requests carry kid; each header has alg, nonce and url', async () => {
  await withCa(async (ca) => {
    const pem = await generateAccountKey('ES256');
    ca.on('/order/1', () => ({ body: { status: 'pending', identifiers: [], authorizations: [], finalize: `${ca.url}/fin/1` } }));
    const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: pem, userAgent: 'my-server/9.9.9 acme' });
    try {
      const account = await client.newAccount({ termsOfServiceAgreed: true, contact: ['mailto:a@example.com'] });
      assert.equal(account.url, `${ca.url}/acct/1`);
      assert.equal(account.created, true);
      await client.getOrder(`${ca.url}/order/1`);
    } finally {
      client.close();
    }
    const [reg] = ca.to('/new-acct');
    const [get] = ca.to('/order/1');
    assert.ok(reg && get);
    assert.deepEqual(Object.keys(reg.header ?? {}).sort(), ['alg', 'jwk', 'nonce', 'url']);
    assert.equal(reg.header?.alg, 'ES256');
    assert.equal(reg.header?.url, `${ca.url}/new-acct`);
    assert.deepEqual(reg.header?.jwk, publicJwkOf(pem));
    assert.deepEqual(reg.payload, { contact: ['mailto:a@example.com'], termsOfServiceAgreed: true });
    await verifiedBy(reg, pem);

    assert.deepEqual(Object.keys(get.header ?? {}).sort(), ['alg', 'kid', 'nonce', 'url']);
    assert.equal(get.header?.kid, `${ca.url}/acct/1`);
    assert.equal(get.header?.url, `${ca.url}/order/1`);
    // RFC 8555 §6.3: POST-as-GET has an empty payload, not "{}".
    assert.equal(get.jws?.payload, '');
    assert.equal(get.headers['content-type'], 'application/jose+json');
    assert.equal(get.headers['user-agent'], 'my-server/9.9.9 acme');
    await verifiedBy(get, pem);
  });
});

test('the first request fetches a nonce with HEAD; later ones reuse Replay-Nonce from the last response', async () => {
  await withCa(async (ca) => {
    ca.on('/order/1', () => ({ body: { status: 'pending', identifiers: [], authorizations: [], finalize: 'x' } }));
    const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateAccountKey(), accountUrl: `${ca.url}/acct/1` });
    try {
      await client.getOrder(`${ca.url}/order/1`);
      await client.getOrder(`${ca.url}/order/1`);
      await client.getOrder(`${ca.url}/order/1`);
    } finally {
      client.close();
    }
    const heads = ca.to('/new-nonce');
    assert.equal(heads.length, 1);
    assert.equal(heads[0]?.method, 'HEAD');
    const used = ca.to('/order/1').map((r) => r.header?.nonce);
    // nonce-1 came with the HEAD answer, nonce-2 and nonce-3 with the first two order answers.
    assert.deepEqual(used, ['nonce-1', 'nonce-2', 'nonce-3']);
  });
});

test('external account binding is an HS256 JWS over the account JWK with the CA kid and the newAccount url, without nonce', async () => {
  await withCa(async (ca) => {
    const pem = await generateAccountKey();
    const hmac = Buffer.from('an hmac key of thirty-two bytes!');
    const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: pem });
    try {
      await client.newAccount({ termsOfServiceAgreed: true, externalAccountBinding: { kid: 'kid-7', hmacKey: hmac.toString('base64url') } });
    } finally {
      client.close();
    }
    const [reg] = ca.to('/new-acct');
    const eab = (reg?.payload as { externalAccountBinding: { protected: string; payload: string; signature: string } }).externalAccountBinding;
    const header = JSON.parse(Buffer.from(eab.protected, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(header, { alg: 'HS256', kid: 'kid-7', url: `${ca.url}/new-acct` });
    assert.deepEqual(JSON.parse(Buffer.from(eab.payload, 'base64url').toString()), publicJwkOf(pem));
    const mac = createHmac('sha256', hmac).update(`${eab.protected}.${eab.payload}`).digest('base64url');
    assert.equal(eab.signature, mac);
  });
});

test('keyChange nests a JWS signed by the new key (jwk, same url, no nonce) in one signed by the old key, then signs with the new key', async () => {
  await withCa(async (ca) => {
    const oldPem = await generateAccountKey('ES256');
    const newPem = await generateAccountKey('ES384');
    ca.on('/key-change', () => ({ body: { status: 'valid' } }));
    ca.on('/acct/1', () => ({ body: { status: 'valid' } }));
    const account = `${ca.url}/acct/1`;
    const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: oldPem, accountUrl: account });
    try {
      const before = await client.keyAuthorization('tok');
      await client.keyChange(newPem);
      assert.equal(client.accountKeyAlg, 'ES384');
      assert.notEqual(await client.keyAuthorization('tok'), before);
      await client.getAccount();
    } finally {
      client.close();
    }
    const [outer] = ca.to('/key-change');
    assert.ok(outer);
    assert.deepEqual(Object.keys(outer.header ?? {}).sort(), ['alg', 'kid', 'nonce', 'url']);
    assert.equal(outer.header?.kid, account);
    assert.equal(outer.header?.url, `${ca.url}/key-change`);
    await verifiedBy(outer, oldPem);

    const inner = outer.payload as { protected: string; payload: string; signature: string };
    const innerHeader = JSON.parse(Buffer.from(inner.protected, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(innerHeader).sort(), ['alg', 'jwk', 'url']);
    assert.equal(innerHeader.alg, 'ES384');
    assert.equal(innerHeader.url, outer.header?.url);
    assert.deepEqual(innerHeader.jwk, publicJwkOf(newPem));
    assert.deepEqual(JSON.parse(Buffer.from(inner.payload, 'base64url').toString()), { account, oldKey: publicJwkOf(oldPem) });
    await flattenedVerify(inner, createPublicKey(createPrivateKey(newPem)));

    const [after] = ca.to('/acct/1');
    assert.ok(after);
    assert.equal(after.header?.alg, 'ES384');
    await verifiedBy(after, newPem);
  });
});

test('revokeCert signs with kid by default and with the certificate key as jwk when given one', async () => {
  await withCa(async (ca) => {
    const accountPem = await generateAccountKey();
    const certPem = await generateAccountKey('ES256');
    ca.on('/revoke-cert', () => ({ status: 200 }));
    const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: accountPem, accountUrl: `${ca.url}/acct/1` });
    const der = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]);
    try {
      await client.revokeCert(der, { reason: 4 });
      await client.revokeCert(der, { certificateKey: certPem });
    } finally {
      client.close();
    }
    const [byAccount, byCertKey] = ca.to('/revoke-cert');
    assert.ok(byAccount && byCertKey);
    assert.deepEqual(byAccount.payload, { certificate: 'MAMCAQU', reason: 4 });
    assert.equal(byAccount.header?.kid, `${ca.url}/acct/1`);
    await verifiedBy(byAccount, accountPem);
    assert.deepEqual(byCertKey.payload, { certificate: 'MAMCAQU' });
    assert.equal(byCertKey.header?.kid, undefined);
    assert.deepEqual(byCertKey.header?.jwk, publicJwkOf(certPem));
    await verifiedBy(byCertKey, certPem);
  });
});

test('RS256 keys, ES384 keys and WebCrypto key pairs sign with their own algorithm', async () => {
  await withCa(async (ca) => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    const cases: [string, ConstructorParameters<typeof AcmeClient>[0]['accountKey'], string][] = [
      ['RS256', rsa, 'RS256'],
      ['ES384', await generateAccountKey('ES384'), 'ES384'],
      ['CryptoKeyPair', pair, 'ES256'],
    ];
    for (const [name, key, alg] of cases) {
      const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: key });
      try {
        await client.newAccount({ termsOfServiceAgreed: true });
      } finally {
        client.close();
      }
      const reg = ca.to('/new-acct').at(-1);
      assert.equal(reg?.header?.alg, alg, name);
      assert.ok(reg?.jws);
      await flattenedVerify(reg.jws, reg.header?.jwk as JWK);
    }
  });
});

test('keyAuthorization is the token, a dot and the base64url SHA-256 thumbprint of the account JWK (RFC 7638)', async () => {
  const pem = await generateAccountKey();
  const jwk = publicJwkOf(pem) as { crv: string; x: string; y: string };
  const canonical = `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
  const thumbprint = createHash('sha256').update(canonical).digest('base64url');
  const client = new AcmeClient({ directoryUrl: 'http://127.0.0.1:9/dir', accountKey: pem });
  assert.equal(await client.keyAuthorization('token-123'), `token-123.${thumbprint}`);
  client.close();
});

test('unusable account keys are refused with MS_ERR_USAGE', () => {
  const ed = generateKeyPairSync('ed25519').privateKey;
  assert.throws(() => new AcmeClient({ directoryUrl: 'http://127.0.0.1:9/dir', accountKey: ed }), { code: 'MS_ERR_USAGE' });
  const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  assert.throws(() => new AcmeClient({ directoryUrl: 'http://127.0.0.1:9/dir', accountKey: pub }), { code: 'MS_ERR_USAGE' });
  assert.throws(() => new AcmeClient({ directoryUrl: 'http://127.0.0.1:9/dir', accountKey: 'not a pem' }), { code: 'MS_ERR_USAGE' });
});

test('requests that need an account fail with MS_ERR_USAGE before newAccount', async () => {
  await withCa(async (ca) => {
    const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateAccountKey() });
    try {
      await assert.rejects(client.getOrder(`${ca.url}/order/1`), { code: 'MS_ERR_USAGE' });
    } finally {
      client.close();
    }
    assert.equal(ca.to('/order/1').length, 0);
  });
});

test('newOrder sends identifiers (IPv6 in RFC 5952 form), RFC 3339 dates, replaces and profile', async () => {
  await withCa(async (ca) => {
    ca.on('/new-order', () => ({
      status: 201,
      headers: { location: '/order/9' },
      body: { status: 'pending', identifiers: [], authorizations: [], finalize: `${ca.url}/fin/9` },
    }));
    const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateAccountKey(), accountUrl: `${ca.url}/acct/1` });
    try {
      const order = await client.newOrder({
        identifiers: [
          { type: 'dns', value: 'a.test' },
          { type: 'ip', value: '[2001:DB8:0:0:0:0:0:1]' },
          { type: 'ip', value: '192.0.2.1' },
        ],
        notAfter: new Date('2030-01-02T03:04:05Z'),
        replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
        profile: 'shortlived',
      });
      assert.equal(order.url, `${ca.url}/order/9`);
    } finally {
      client.close();
    }
    assert.deepEqual(ca.to('/new-order')[0]?.payload, {
      identifiers: [
        { type: 'dns', value: 'a.test' },
        { type: 'ip', value: '2001:db8::1' },
        { type: 'ip', value: '192.0.2.1' },
      ],
      notAfter: '2030-01-02T03:04:05.000Z',
      replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
      profile: 'shortlived',
    });
  });
});
