/**
 * How CertificateStore keeps a loaded certificate in memory (issue 12): the chain as the leaf's
 * PEM plus the issuer part, the latter one string for every certificate of one CA, and the
 * storage keys derived on demand. What must hold: the chain reads back byte for byte, whatever
 * its line breaks; nothing of the record is lost to JSON or to a change of metadata; a chain with
 * a damaged block before its leaf loads as it saved; and the issuer part
 * really is one string, which only the heap can tell (two equal strings are equal in JavaScript).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSnapshot } from 'node:v8';
import { CertificateStore, withMeta, type StoredCertificate } from '../../../src/certs/certificate-store.ts';
import { certificateKeys } from '../../../src/certs/keys.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import type { CertificateMeta } from '../../../src/certs/meta.ts';
import { obtainCertificate } from '../../../src/certs/obtain.ts';
import { silentLogger } from '../../../src/log.ts';
import { splitPemChain } from '../../../src/x509/certificate.ts';
import { localIssuance, tempStorage, type IssuedEntry } from './helpers.ts';

const NAMES = Array.from({ length: 12 }, (_, i) => `c${i}.compact.localhost`);

/** Certificates for NAMES from one local CA, saved; then loaded by a second store (a restart). */
async function loadedCertificates(): Promise<{ loaded: StoredCertificate[]; issued: Map<string, string>; cleanup: () => Promise<void> }> {
  const tmp = await tempStorage();
  const writer = new CertificateStore(tmp.storage);
  const issued = new Map<string, string>();
  for (const name of NAMES) {
    const entry = await localIssuance(tmp.storage, name)();
    issued.set(name, entry.chainPem);
    await writer.save('local', name, entry);
  }
  const reader = new CertificateStore(tmp.other());
  const loaded: StoredCertificate[] = [];
  for (const name of NAMES) {
    const cert = await reader.load('local', name);
    assert.ok(cert, `${name}: loaded`);
    loaded.push(cert);
  }
  return { loaded, issued, cleanup: tmp.remove };
}

/** How many string objects on the heap hold `text` (or contain it, for longer ones), after a full GC. */
async function stringsHolding(text: string): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snapshot = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const { node_fields: fields, node_types: [types] } = snapshot.snapshot.meta;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  let n = 0;
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    // Flat strings only: a concatenation's node repeats its parts' text.
    if (types[snapshot.nodes[i + typeAt]!] !== 'string') continue;
    if (snapshot.strings[snapshot.nodes[i + nameAt]!]!.includes(text)) n++;
  }
  return n;
}

/**
 * A certificate for `name` from a fresh store; each variant of its chain text that `variantsOf`
 * makes, saved, reads back byte for byte: as save returns it and as another store loads it.
 */
async function assertRoundTrips(name: string, variantsOf: (entry: IssuedEntry) => Record<string, string>): Promise<void> {
  const tmp = await tempStorage();
  try {
    const store = new CertificateStore(tmp.storage);
    const entry = await localIssuance(tmp.storage, name)();
    for (const [what, chainPem] of Object.entries(variantsOf(entry))) {
      const saved = await store.save('local', name, { ...entry, chainPem });
      assert.equal(saved.chainPem, chainPem, `${what}: as saved`);
      const loaded = await new CertificateStore(tmp.other()).load('local', name);
      assert.equal(loaded?.chainPem, chainPem, `${what}: as loaded`);
    }
  } finally {
    await tmp.remove();
  }
}

test('a loaded chain reads back byte for byte, and its storage keys are the layout`s', async () => {
  const { loaded, issued, cleanup } = await loadedCertificates();
  try {
    for (const [i, cert] of loaded.entries()) {
      const name = NAMES[i]!;
      assert.equal(cert.chainPem, issued.get(name), `${name}: chain`);
      assert.equal(splitPemChain(cert.chainPem).length, 2, `${name}: leaf and intermediate`);
      assert.deepEqual(cert.keys, certificateKeys('local', name));
      // JSON (a log line, an API answer) sees every field, as with a plain object; withMeta (not a
      // spread, which would drop the getters) changes the metadata.
      const json = JSON.parse(JSON.stringify(cert)) as Record<string, unknown>;
      assert.equal(json['chainPem'], cert.chainPem);
      assert.equal(json['keyPem'], cert.keyPem);
      assert.deepEqual(json['keys'], certificateKeys('local', name));
      const other = withMeta(cert, { ...cert.meta, obtainedAt: '2026-01-01T00:00:00.000Z' });
      assert.equal(other.chainPem, cert.chainPem);
      assert.equal(other.keyPem, cert.keyPem);
      assert.equal(other.meta.obtainedAt, '2026-01-01T00:00:00.000Z');
      assert.equal(other.meta.serialHex, cert.meta.serialHex);
    }
  } finally {
    await cleanup();
  }
});

test('line breaks and text around the blocks survive: CRLF, a single certificate, no final newline', async () => {
  await assertRoundTrips('crlf.localhost', (entry) => {
    const [leaf, issuer] = splitPemChain(entry.chainPem);
    return {
      crlf: entry.chainPem.replaceAll('\n', '\r\n'),
      'leaf only': leaf!,
      'no final newline': `${leaf}\n${issuer!.trimEnd()}`,
      'blank lines between': `${leaf}\n\n\n${issuer}`,
    };
  });
});

test('every certificate of one CA holds the same issuer string, not a copy each', async () => {
  const { loaded, cleanup } = await loadedCertificates();
  try {
    const intermediate = splitPemChain(loaded[0]!.chainPem)[1]!;
    // The base64 body of the intermediate, as a string of its own: without the sharing, each
    // loaded certificate holds it (NAMES.length strings and more).
    const body = intermediate.split('\n').slice(1, -2).join('\n');
    assert.ok(body.length > 400, 'the intermediate has a body');
    const holders = await stringsHolding(body);
    // `body` itself is one; the issuer part another; a stray copy (the issuer's own PEM, a
    // flattened chain not yet collected) at most one more.
    assert.ok(holders >= 2 && holders <= 3, `strings holding the intermediate: ${holders}, for ${loaded.length} certificates`);
  } finally {
    await cleanup();
  }
});

test('a chain whose first END line comes before its first valid block loads as it saved', async () => {
  // save checks the chain's first valid certificate block; load must accept what save did,
  // not only the text up to the first END line (a stray line, a damaged block before the leaf).
  await assertRoundTrips('odd.localhost', (entry) => ({
    'stray END line first': `-----END CERTIFICATE-----\n${entry.chainPem}`,
    'damaged block first': `-----BEGIN CERTIFICATE-----\n!!bad!!\n-----END CERTIFICATE-----\n${entry.chainPem}`,
  }));
});

test('obtain, finding the stored certificate not due by newer metadata the caller knew, returns it whole', async () => {
  const tmp = await tempStorage();
  try {
    const store = new CertificateStore(tmp.storage);
    const entry = await localIssuance(tmp.storage, 'known.localhost')();
    await store.save('local', 'known.localhost', entry);
    // Stored: due by its lifetime at `now`. Known to the caller: a renewal window (ARI) later
    // than `now`, as after an update that could not be saved. obtain returns the stored
    // certificate with the known metadata: a copy made by a spread had no chain and no keys.
    const nb = Date.parse(entry.meta.notBefore);
    const na = Date.parse(entry.meta.notAfter);
    const now = new Date(nb + 0.7 * (na - nb));
    const later = (ms: number): string => new Date(now.getTime() + ms).toISOString();
    const known: CertificateMeta = {
      ...entry.meta,
      obtainedAt: '2000-01-01T00:00:00.000Z',
      ari: { start: later(86_400_000), end: later(2 * 86_400_000), renewAt: later(0.05 * (na - nb)), checkedAt: now.toISOString() },
    };
    const issuer = new LocalIssuer({ storage: tmp.storage, log: silentLogger() });
    const cert = await obtainCertificate(['known.localhost'], { storage: tmp.storage, store, issuer, keyType: 'p256', log: silentLogger(), known, now: () => now });
    assert.equal(cert.meta.serialHex, entry.meta.serialHex, 'the stored certificate, not a new one');
    assert.deepEqual(cert.meta.ari, known.ari, 'with the metadata the caller knew');
    assert.equal(cert.chainPem, entry.chainPem);
    assert.deepEqual(cert.keys, certificateKeys('local', 'known.localhost'));
  } finally {
    await tmp.remove();
  }
});
