import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { localCaKeys } from '../../../src/certs/keys.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { MyServerError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import type { Storage } from '../../../src/storage/storage.ts';
import { parseCertificate, splitPemChain } from '../../../src/x509/certificate.ts';
import { generatePrivateKeyPem } from '../../../src/x509/keys.ts';
import { createIntermediateCa, createRootCa } from '../../../src/x509/local-ca.ts';
import { tempStorage } from './helpers.ts';

const DAY = 24 * 3600_000;

function issuer(storage: Storage, lifetimeMs?: number): LocalIssuer {
  return new LocalIssuer({ storage, log: silentLogger(), ...(lifetimeMs !== undefined ? { lifetimeMs } : {}) });
}

async function issueFor(i: LocalIssuer, name: string): Promise<{ leaf: string; intermediate: string }> {
  const { chainPem } = await i.issue({ names: [name], keyPem: await generatePrivateKeyPem('p256'), keyType: 'p256' });
  const [leaf, intermediate] = splitPemChain(chainPem);
  assert.ok(leaf && intermediate, 'chain is leaf then intermediate');
  return { leaf, intermediate };
}

test('the root is created once in storage and reused by a second issuer over the same storage', async () => {
  const tmp = await tempStorage();
  try {
    const a = issuer(tmp.storage);
    const rootA = await a.rootPem();
    const stored = (await tmp.storage.get(localCaKeys.rootCert))?.toString();
    assert.equal(stored, rootA);
    for (const k of Object.values(localCaKeys)) assert.ok(await tmp.storage.exists(k), k);

    const b = issuer(tmp.other());
    assert.equal(await b.rootPem(), rootA);
    const { leaf, intermediate } = await issueFor(b, 'a.localhost');
    assert.equal(intermediate.trim(), (await tmp.storage.get(localCaKeys.intermediateCert))?.toString().trim());
    const root = new X509Certificate(rootA);
    assert.ok(new X509Certificate(intermediate).verify(root.publicKey));
    assert.ok(new X509Certificate(leaf).verify(new X509Certificate(intermediate).publicKey));
  } finally {
    await tmp.remove();
  }
});

test('concurrent first issues from two issuers over one folder create ONE root and one intermediate', async () => {
  const tmp = await tempStorage();
  try {
    // Two FileStorage instances: as two processes would share the folder, each with its own locks.
    const issuers = [issuer(tmp.storage), issuer(tmp.other())];
    const results = await Promise.all(issuers.flatMap((i, n) => [0, 1, 2].map((k) => issueFor(i, `h${n}-${k}.localhost`))));
    const roots = await Promise.all(issuers.map((i) => i.rootPem()));
    assert.equal(roots[0], roots[1]);
    assert.equal(roots[0], (await tmp.storage.get(localCaKeys.rootCert))?.toString());
    const intermediates = new Set(results.map((r) => r.intermediate));
    assert.equal(intermediates.size, 1, 'every leaf is signed by the same intermediate');
    const root = new X509Certificate(roots[0]!);
    for (const r of results) {
      assert.ok(new X509Certificate(r.intermediate).verify(root.publicKey));
      assert.ok(new X509Certificate(r.leaf).verify(new X509Certificate(r.intermediate).publicKey));
    }
  } finally {
    await tmp.remove();
  }
});

test('an intermediate with less than a month left is replaced while the root is kept', async () => {
  const tmp = await tempStorage();
  try {
    const root = await createRootCa();
    const old = await createIntermediateCa(root, { now: new Date(Date.now() - 340 * DAY) });
    await tmp.storage.put(localCaKeys.rootKey, root.keyPem);
    await tmp.storage.put(localCaKeys.rootCert, root.certPem);
    await tmp.storage.put(localCaKeys.intermediateKey, old.keyPem);
    await tmp.storage.put(localCaKeys.intermediateCert, old.certPem);

    const i = issuer(tmp.storage);
    assert.equal(await i.rootPem(), root.certPem);
    const { intermediate } = await issueFor(i, 'a.localhost');
    assert.notEqual(intermediate.trim(), old.certPem.trim());
    assert.ok(parseCertificate(intermediate).notAfter.getTime() > Date.now() + 300 * DAY);
    assert.equal((await tmp.storage.get(localCaKeys.intermediateCert))?.toString().trim(), intermediate.trim());
    assert.equal((await tmp.storage.get(localCaKeys.rootCert))?.toString(), root.certPem);
  } finally {
    await tmp.remove();
  }
});

test('a running issuer replaces its cached intermediate once it has a month left, without a restart', async () => {
  const tmp = await tempStorage();
  try {
    const root = await createRootCa();
    // 365-day intermediate issued 335 days ago, plus 3 s: one month and 3 s left at the first issue.
    const old = await createIntermediateCa(root, { now: new Date(Date.now() - 335 * DAY + 3_000) });
    await tmp.storage.put(localCaKeys.rootKey, root.keyPem);
    await tmp.storage.put(localCaKeys.rootCert, root.certPem);
    await tmp.storage.put(localCaKeys.intermediateKey, old.keyPem);
    await tmp.storage.put(localCaKeys.intermediateCert, old.certPem);

    const i = issuer(tmp.storage);
    const first = await issueFor(i, 'a.localhost');
    assert.equal(first.intermediate.trim(), old.certPem.trim(), 'still more than a month left: the stored one signs');
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const second = await issueFor(i, 'b.localhost');
    assert.notEqual(second.intermediate.trim(), old.certPem.trim(), 'the same issuer object rotated it');
    assert.ok(parseCertificate(second.intermediate).notAfter.getTime() > Date.now() + 300 * DAY);
    assert.equal((await tmp.storage.get(localCaKeys.intermediateCert))?.toString().trim(), second.intermediate.trim());
  } finally {
    await tmp.remove();
  }
});

test('a stored root whose key does not match fails with MS_ERR_STORAGE instead of minting a new root', async () => {
  const tmp = await tempStorage();
  try {
    const root = await createRootCa();
    await tmp.storage.put(localCaKeys.rootKey, await generatePrivateKeyPem('p256'));
    await tmp.storage.put(localCaKeys.rootCert, root.certPem);
    await assert.rejects(issuer(tmp.storage).rootPem(), (err) => err instanceof MyServerError && err.code === 'MS_ERR_STORAGE');
    assert.equal((await tmp.storage.get(localCaKeys.rootCert))?.toString(), root.certPem, 'the root users trust is left alone');
  } finally {
    await tmp.remove();
  }
});

test('lifetimeMs sets the leaf validity; without it leaves live 7 days', async () => {
  const tmp = await tempStorage();
  try {
    const short = parseCertificate((await issueFor(issuer(tmp.storage, 3600_000), 'a.localhost')).leaf);
    const span = short.notAfter.getTime() - Date.now();
    assert.ok(span > 3500_000 && span <= 3600_000, `${span} ms`);
    const normal = parseCertificate((await issueFor(issuer(tmp.storage), 'b.localhost')).leaf);
    const days = (normal.notAfter.getTime() - Date.now()) / DAY;
    assert.ok(days > 6.99 && days <= 7, `${days} days`);
  } finally {
    await tmp.remove();
  }
});
