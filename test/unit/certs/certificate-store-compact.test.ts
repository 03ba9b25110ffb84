/**
 * How CertificateStore keeps a loaded certificate in memory (issue 12): the chain as the leaf's
 * PEM plus the issuer part, the latter one string for every certificate of one CA, and the
 * storage keys derived on demand. What must hold: the chain reads back byte for byte, whatever
 * its line breaks; nothing of the record is lost to a spread or to JSON; and the issuer part
 * really is one string, which only the heap can tell (two equal strings are equal in JavaScript).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSnapshot } from 'node:v8';
import { CertificateStore, withMeta, type StoredCertificate } from '../../../src/certs/certificate-store.ts';
import { certificateKeys } from '../../../src/certs/keys.ts';
import { splitPemChain } from '../../../src/x509/certificate.ts';
import { localIssuance, tempStorage } from './helpers.ts';

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

test('a loaded chain reads back byte for byte, and its storage keys are the layout`s', async () => {
  const { loaded, issued, cleanup } = await loadedCertificates();
  try {
    for (const [i, cert] of loaded.entries()) {
      const name = NAMES[i]!;
      assert.equal(cert.chainPem, issued.get(name), `${name}: chain`);
      assert.equal(splitPemChain(cert.chainPem).length, 2, `${name}: leaf and intermediate`);
      assert.deepEqual(cert.keys, certificateKeys('local', name));
      // JSON (a log line, an API answer) and a spread see every field, as with a plain object.
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
  const tmp = await tempStorage();
  try {
    const store = new CertificateStore(tmp.storage);
    const entry = await localIssuance(tmp.storage, 'crlf.localhost')();
    const [leaf, issuer] = splitPemChain(entry.chainPem);
    const variants = {
      crlf: entry.chainPem.replaceAll('\n', '\r\n'),
      'leaf only': leaf!,
      'no final newline': `${leaf}\n${issuer!.trimEnd()}`,
      'blank lines between': `${leaf}\n\n\n${issuer}`,
    };
    for (const [what, chainPem] of Object.entries(variants)) {
      const saved = await store.save('local', 'crlf.localhost', { ...entry, chainPem });
      assert.equal(saved.chainPem, chainPem, `${what}: as saved`);
      const loaded = await new CertificateStore(tmp.other()).load('local', 'crlf.localhost');
      assert.equal(loaded?.chainPem, chainPem, `${what}: as loaded`);
    }
  } finally {
    await tmp.remove();
  }
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
