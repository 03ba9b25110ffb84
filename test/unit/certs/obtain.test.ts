import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { findRefusal, IssuanceRefused } from '../../../src/certs/issuer.ts';
import { certificateKeys } from '../../../src/certs/keys.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { obtainCertificate, supersedes, type ObtainOptions } from '../../../src/certs/obtain.ts';
import type { CertificateMeta } from '../../../src/certs/meta.ts';
import { silentLogger } from '../../../src/log.ts';
import type { Storage } from '../../../src/storage/storage.ts';
import { certificateMatchesKey, parseCertificate, splitPemChain } from '../../../src/x509/certificate.ts';
import { generatePrivateKeyPem } from '../../../src/x509/keys.ts';
import { CountingIssuer, tempStorage, type TempStorage } from './helpers.ts';

const DAY = 24 * 3600_000;

interface Setup {
  readonly tmp: TempStorage;
  readonly local: LocalIssuer;
  readonly issuer: CountingIssuer;
  readonly store: CertificateStore;
  options(extra?: Partial<ObtainOptions>): ObtainOptions;
}

async function setup(storage?: Storage): Promise<Setup> {
  const tmp = await tempStorage();
  const s = storage ?? tmp.storage;
  const local = new LocalIssuer({ storage: s, log: silentLogger() });
  const issuer = new CountingIssuer(local);
  const store = new CertificateStore(s);
  return { tmp, local, issuer, store, options: (extra = {}) => ({ storage: s, store, issuer, keyType: 'p256', log: silentLogger(), ...extra }) };
}

test('obtain stores key, chain and metadata that agree with each other', async () => {
  const s = await setup();
  try {
    const got = await obtainCertificate(['a.localhost', 'b.localhost'], s.options());
    const keys = certificateKeys('local', 'a.localhost');
    assert.deepEqual(got.keys, keys);
    const [crt, key, json] = await Promise.all([s.tmp.storage.get(keys.cert), s.tmp.storage.get(keys.key), s.tmp.storage.get(keys.meta)]);
    assert.ok(crt && key && json);
    assert.equal(crt.toString(), got.chainPem);
    assert.equal(key.toString(), got.keyPem);
    assert.ok(certificateMatchesKey(got.chainPem, got.keyPem));

    const [leafPem, intermediatePem] = splitPemChain(got.chainPem);
    assert.ok(leafPem && intermediatePem);
    const leaf = parseCertificate(leafPem);
    assert.deepEqual([...leaf.dnsNames].sort(), ['a.localhost', 'b.localhost']);
    const root = new X509Certificate(await s.local.rootPem());
    assert.ok(new X509Certificate(intermediatePem).verify(root.publicKey));
    assert.ok(new X509Certificate(leafPem).verify(new X509Certificate(intermediatePem).publicKey));

    const meta = JSON.parse(json.toString()) as Record<string, unknown>;
    assert.deepEqual(meta['names'], ['a.localhost', 'b.localhost']);
    assert.equal(meta['issuer'], 'local');
    assert.equal(meta['serialHex'], leaf.serialHex);
    assert.equal(meta['notAfter'], leaf.notAfter.toISOString());
    assert.equal(meta['notBefore'], leaf.notBefore.toISOString());
    assert.equal(meta['keyType'], 'p256');
    assert.equal(meta['issuerName'], 'my-server Local Authority - ECC Intermediate');
    assert.deepEqual(got.meta, meta);
    assert.equal(s.issuer.calls, 1);
  } finally {
    await s.tmp.remove();
  }
});

test('key, chain and metadata files are readable by the owner only (0600)', async () => {
  const s = await setup();
  try {
    const got = await obtainCertificate(['a.localhost'], s.options());
    for (const k of [got.keys.key, got.keys.cert, got.keys.meta, 'pki/local/root.key', 'pki/local/intermediate.key']) {
      const st = await stat(join(s.tmp.dir, k));
      assert.equal(st.mode & 0o777, 0o600, `${k}: ${(st.mode & 0o777).toString(8)}`);
    }
  } finally {
    await s.tmp.remove();
  }
});

test('a second obtain returns the stored certificate without issuing again', async () => {
  const s = await setup();
  try {
    const first = await obtainCertificate(['a.localhost'], s.options());
    const second = await obtainCertificate(['a.localhost'], s.options());
    assert.equal(s.issuer.calls, 1);
    assert.equal(second.meta.serialHex, first.meta.serialHex);
    assert.equal(second.keyPem, first.keyPem);
  } finally {
    await s.tmp.remove();
  }
});

test('force issues a new certificate and key, passing the old chain as the one it replaces', async () => {
  const s = await setup();
  try {
    const first = await obtainCertificate(['a.localhost'], s.options());
    const renewed = await obtainCertificate(['a.localhost'], s.options({ force: true }));
    assert.equal(s.issuer.calls, 2);
    assert.notEqual(renewed.meta.serialHex, first.meta.serialHex);
    assert.notEqual(renewed.keyPem, first.keyPem);
    assert.equal(s.issuer.requests[1]?.replacing?.chainPem, first.chainPem);
    assert.equal(s.issuer.requests[0]?.replacing, undefined);
    const loaded = await s.store.load('local', 'a.localhost');
    assert.equal(loaded?.meta.serialHex, renewed.meta.serialHex);
  } finally {
    await s.tmp.remove();
  }
});

test('a certificate inside its renewal window is renewed; one outside it is kept', async () => {
  const s = await setup();
  try {
    // Local leaves live 7 days: renewal is due with a third left, i.e. after about 4.7 days.
    const first = await obtainCertificate(['a.localhost'], s.options());
    const kept = await obtainCertificate(['a.localhost'], s.options({ now: () => new Date(Date.now() + 4 * DAY) }));
    assert.equal(kept.meta.serialHex, first.meta.serialHex);
    const renewed = await obtainCertificate(['a.localhost'], s.options({ now: () => new Date(Date.now() + 5 * DAY) }));
    assert.notEqual(renewed.meta.serialHex, first.meta.serialHex);
    assert.equal(s.issuer.calls, 2);
  } finally {
    await s.tmp.remove();
  }
});

test('a stored certificate that lacks one of the requested names is issued again', async () => {
  const s = await setup();
  try {
    await obtainCertificate(['a.localhost'], s.options());
    const wider = await obtainCertificate(['a.localhost', 'b.localhost'], s.options());
    assert.equal(s.issuer.calls, 2);
    assert.deepEqual(wider.meta.names, ['a.localhost', 'b.localhost']);
  } finally {
    await s.tmp.remove();
  }
});

test('a stored key that does not match the chain (crash between writes) loads as absent and obtain re-issues', async () => {
  const s = await setup();
  try {
    const first = await obtainCertificate(['a.localhost'], s.options());
    // A renewal that stored its new key, then crashed before writing the chain.
    await s.tmp.storage.put(first.keys.key, await generatePrivateKeyPem('p256'));
    assert.equal(await s.store.load('local', 'a.localhost'), undefined);
    const again = await obtainCertificate(['a.localhost'], s.options());
    assert.equal(s.issuer.calls, 2);
    assert.notEqual(again.meta.serialHex, first.meta.serialHex);
    const loaded = await s.store.load('local', 'a.localhost');
    assert.ok(loaded);
    assert.ok(certificateMatchesKey(loaded.chainPem, loaded.keyPem));
    assert.equal(loaded.meta.serialHex, again.meta.serialHex);
  } finally {
    await s.tmp.remove();
  }
});

test('an entry without metadata (crash before the last write) loads as absent and obtain re-issues', async () => {
  const s = await setup();
  try {
    const first = await obtainCertificate(['a.localhost'], s.options());
    await s.tmp.storage.delete(first.keys.meta);
    assert.equal(await s.store.load('local', 'a.localhost'), undefined);
    await obtainCertificate(['a.localhost'], s.options());
    assert.equal(s.issuer.calls, 2);
  } finally {
    await s.tmp.remove();
  }
});

test('two stores over one folder obtaining the same name at once make one issuance', async () => {
  const tmp = await tempStorage();
  try {
    const stores = [tmp.storage, tmp.other()];
    // One shared root first, so the race below is about the certificate only.
    await new LocalIssuer({ storage: tmp.storage, log: silentLogger() }).rootPem();
    const issuers = stores.map((st) => new CountingIssuer(new LocalIssuer({ storage: st, log: silentLogger() })));
    const results = await Promise.all(
      stores.map((st, i) =>
        obtainCertificate(['race.localhost'], { storage: st, store: new CertificateStore(st), issuer: issuers[i]!, keyType: 'p256', log: silentLogger() }),
      ),
    );
    assert.equal(issuers[0]!.calls + issuers[1]!.calls, 1);
    assert.equal(results[0]?.meta.serialHex, results[1]?.meta.serialHex);
  } finally {
    await tmp.remove();
  }
});

test('list shows stored certificates and remove makes one absent', async () => {
  const s = await setup();
  try {
    await obtainCertificate(['a.localhost'], s.options());
    await obtainCertificate(['*.w.localhost'], s.options());
    const listed = await s.store.list();
    assert.deepEqual(listed.map((l) => l.meta.names[0]).sort(), ['*.w.localhost', 'a.localhost']);
    assert.deepEqual(listed.find((l) => l.meta.names[0] === '*.w.localhost')?.keys, certificateKeys('local', '*.w.localhost'));
    await s.store.remove('local', 'a.localhost');
    assert.equal(await s.store.load('local', 'a.localhost'), undefined);
    assert.deepEqual((await s.store.list()).map((l) => l.meta.names[0]), ['*.w.localhost']);
  } finally {
    await s.tmp.remove();
  }
});

test('a renewal that crashed after the chain but before the metadata loads as absent, never with stale metadata', async () => {
  const s = await setup();
  try {
    const first = await obtainCertificate(['a.localhost'], s.options());
    // save() writes key, chain, metadata in that order; stop after the second write.
    const keyPem = await generatePrivateKeyPem('p256');
    const issued = await s.local.issue({ names: ['a.localhost'], keyPem, keyType: 'p256' });
    await s.tmp.storage.put(first.keys.key, keyPem);
    await s.tmp.storage.put(first.keys.cert, issued.chainPem);
    const loaded = await s.store.load('local', 'a.localhost');
    if (loaded !== undefined) {
      const leaf = parseCertificate(splitPemChain(loaded.chainPem)[0] ?? '');
      assert.equal(loaded.meta.serialHex, leaf.serialHex, 'metadata describes another certificate than the chain');
    }
  } finally {
    await s.tmp.remove();
  }
});

test('a refusal that binds later attempts is recorded, and obtain refuses the covered names without calling the issuer until it ends', async () => {
  const s = await setup();
  try {
    let now = Date.now();
    let calls = 0;
    const refusing = {
      id: 'https://ca.test/dir',
      storageKey: 'ca.test-dir',
      issue: (): Promise<never> => {
        calls++;
        const problem = new AcmeProblem({ type: 'urn:ietf:params:acme:error:caa', detail: 'CAA record forbids issuance', status: 403 });
        return Promise.reject(
          new IssuanceRefused('the CA will not issue for a.test', [{ scope: 'names', subjects: ['a.test'], until: now + 3600_000, parked: true, problem }], { cause: problem }),
        );
      },
    };
    const options = s.options({ issuer: refusing, now: () => new Date(now) });
    await assert.rejects(obtainCertificate(['a.test'], options), (err) => findRefusal(err)?.parked === true);
    assert.equal(calls, 1);
    await assert.rejects(obtainCertificate(['a.test'], options), (err) => {
      assert.match(String((err as Error).message), /parked/);
      assert.equal(findRefusal(err)?.holds[0]?.problem.type, 'urn:ietf:params:acme:error:caa');
      return true;
    });
    await assert.rejects(obtainCertificate(['a.test', 'b.test'], options), (err) => Boolean(findRefusal(err)), 'a set containing the name is held too');
    assert.equal(calls, 1, 'the issuer was not asked while the hold lasts');
    await assert.rejects(obtainCertificate(['b.test'], options));
    assert.equal(calls, 2, 'other names are not held');
    now += 3600_001;
    await assert.rejects(obtainCertificate(['a.test'], options));
    assert.equal(calls, 3, 'asked again once the hold ended');
  } finally {
    await s.tmp.remove();
  }
});

test('supersedes: after a fenced save, only a newer certificate for every name, still valid, replaces the one obtain began with', () => {
  const meta = (serialHex: string, notBefore: string, names = ['a.test', 'b.test'], notAfter = '2030-01-01T00:00:00Z'): CertificateMeta => ({
    names,
    issuer: 'local',
    issuerName: 'CA',
    serialHex,
    notBefore,
    notAfter,
    obtainedAt: notBefore,
    keyType: 'p256',
  });
  const now = new Date('2026-06-01T00:00:00Z');
  const before = meta('01', '2026-05-01T00:00:00Z');
  const cases: { what: string; stored: CertificateMeta; before: CertificateMeta | undefined; want: boolean }[] = [
    { what: 'another holder renewed it', stored: meta('02', '2026-05-31T00:00:00Z'), before, want: true },
    { what: 'a first certificate another holder stored', stored: meta('02', '2026-05-31T00:00:00Z'), before: undefined, want: true },
    { what: 'still the certificate being replaced', stored: before, before, want: false },
    { what: 'another serial but older than the one being replaced', stored: meta('03', '2026-04-01T00:00:00Z'), before, want: false },
    { what: 'newer but not for every name', stored: meta('02', '2026-05-31T00:00:00Z', ['a.test']), before, want: false },
    { what: 'newer but expired', stored: meta('02', '2026-05-31T00:00:00Z', ['a.test', 'b.test'], '2026-05-31T12:00:00Z'), before, want: false },
    { what: 'a first certificate, expired', stored: meta('02', '2026-05-31T00:00:00Z', ['a.test', 'b.test'], '2026-05-31T12:00:00Z'), before: undefined, want: false },
  ];
  for (const c of cases) assert.equal(supersedes(c.stored, c.before, ['a.test', 'b.test'], now), c.want, c.what);
});
