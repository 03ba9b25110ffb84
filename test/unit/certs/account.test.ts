import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOrCreateAccount } from '../../../src/certs/account.ts';
import { accountKeyKey, accountMetaKey, issuerKey } from '../../../src/certs/keys.ts';
import { silentLogger } from '../../../src/log.ts';
import { startFakeCa } from '../acme/fake-ca.ts';
import { tempStorage } from './helpers.ts';

test('recoverAccount: concurrent callers who lost the same account make one newAccount, with the same key; the record gets the new URL', async () => {
  const ca = await startFakeCa();
  const tmp = await tempStorage();
  try {
    const client = await loadOrCreateAccount({ directoryUrl: ca.directoryUrl, storage: tmp.storage, log: silentLogger(), email: 'ops@example.test' });
    assert.equal(client.accountUrl, `${ca.url}/acct/1`);
    const lost = client.generation;
    ca.on('/new-acct', () => ({ status: 201, headers: { location: `${ca.url}/acct/2` }, body: { status: 'valid' } }));
    await Promise.all(Array.from({ length: 5 }, () => client.recoverAccount(lost)));
    // A caller whose request failed before the recovery finished does not register again.
    await client.recoverAccount(lost);
    const registrations = ca.to('/new-acct');
    assert.equal(registrations.length, 2, 'the first registration and one recovery');
    assert.deepEqual(registrations[1]?.header?.['jwk'], registrations[0]?.header?.['jwk'], 'the same key');
    assert.deepEqual((registrations[1]?.payload as { contact?: string[] }).contact, ['mailto:ops@example.test']);
    assert.equal(client.accountUrl, `${ca.url}/acct/2`);
    const issuer = issuerKey(ca.directoryUrl);
    const record = JSON.parse((await tmp.storage.get(accountMetaKey(issuer, 'ops@example.test')))!.toString()) as { url: string };
    assert.equal(record.url, `${ca.url}/acct/2`);
  } finally {
    await tmp.remove();
    await ca.close();
  }
});

test('recoverAccount: when the CA refuses the old key, a new key is stored (the old one kept as .bak) and registered', async () => {
  const ca = await startFakeCa();
  const tmp = await tempStorage();
  try {
    const client = await loadOrCreateAccount({ directoryUrl: ca.directoryUrl, storage: tmp.storage, log: silentLogger() });
    const issuer = issuerKey(ca.directoryUrl);
    const keyKey = accountKeyKey(issuer, undefined);
    const oldKey = (await tmp.storage.get(keyKey))!.toString();
    const oldJwk = client.accountJwk;
    let n = 0;
    ca.on('/new-acct', () =>
      ++n === 1
        ? { status: 400, body: { type: 'urn:ietf:params:acme:error:badPublicKey', detail: 'key blocked' } }
        : { status: 201, headers: { location: `${ca.url}/acct/9` }, body: { status: 'valid' } },
    );
    await client.recoverAccount(client.generation);
    const newKey = (await tmp.storage.get(keyKey))!.toString();
    assert.notEqual(newKey, oldKey);
    assert.notDeepEqual(client.accountJwk, oldJwk, 'the client signs with the new key');
    const regs = ca.to('/new-acct');
    assert.deepEqual(regs.at(-1)?.header?.['jwk'], client.accountJwk);
    const backups = (await tmp.storage.list(keyKey.slice(0, keyKey.lastIndexOf('/')))).filter((k) => k.endsWith('.bak'));
    assert.equal(backups.length, 1);
    assert.equal((await tmp.storage.get(backups[0]!))!.toString(), oldKey);
    assert.equal(client.accountUrl, `${ca.url}/acct/9`);
  } finally {
    await tmp.remove();
    await ca.close();
  }
});

test('recoverAccount: a rate limit on newAccount is not a refused key: no new key, the problem is thrown', async () => {
  const ca = await startFakeCa();
  const tmp = await tempStorage();
  try {
    const client = await loadOrCreateAccount({ directoryUrl: ca.directoryUrl, storage: tmp.storage, log: silentLogger() });
    const keyKey = accountKeyKey(issuerKey(ca.directoryUrl), undefined);
    const oldKey = (await tmp.storage.get(keyKey))!.toString();
    ca.on('/new-acct', () => ({ status: 429, headers: { 'retry-after': '60' }, body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many registrations' } }));
    await assert.rejects(client.recoverAccount(client.generation), /rateLimited/);
    assert.equal((await tmp.storage.get(keyKey))!.toString(), oldKey);
  } finally {
    await tmp.remove();
    await ca.close();
  }
});
