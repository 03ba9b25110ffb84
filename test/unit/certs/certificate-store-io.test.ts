/**
 * What the certificate store asks of storage on the on-demand path (issue 12: each failed file
 * open costs ~30 µs of main-thread CPU on these machines, and a new name is looked up twice):
 * a name with no certificate costs two reads, not four, and a first save tells the storage its
 * keys are new so a folder storage makes the folder before writing rather than after three
 * failed opens. Whatever the reads skip, a load still finds every complete entry and no partial one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { certificateKeys, certificatePendingKey } from '../../../src/certs/keys.ts';
import type { WriteOptions } from '../../../src/storage/storage.ts';
import { DelegatingStorage } from '../../helpers/delegating-storage.ts';
import { localIssuance, tempStorage } from './helpers.ts';

const NAME = 'io.localhost';
const KEYS = certificateKeys('local', NAME);
const PENDING = certificatePendingKey('local', NAME);

/** Records the keys read and the options of every write. */
class RecordingStorage extends DelegatingStorage {
  readonly reads: string[] = [];
  readonly writes: { keys: string[]; absent: boolean | undefined }[] = [];

  override get(key: string): Promise<Buffer | undefined> {
    this.reads.push(key);
    return this.inner.get(key);
  }

  override put(key: string, value: Buffer | string, options?: WriteOptions): Promise<void> {
    this.writes.push({ keys: [key], absent: options?.absent });
    return this.inner.put(key, value, options);
  }

  async putAll(entries: readonly (readonly [string, Buffer | string])[], options?: WriteOptions): Promise<void> {
    this.writes.push({ keys: entries.map(([k]) => k), absent: options?.absent });
    const putAll = this.inner.putAll?.bind(this.inner);
    assert.ok(putAll, 'the file storage batches puts');
    await putAll(entries, options);
  }
}

test('a name with no certificate is two reads: the chain, then the pending record', async () => {
  const tmp = await tempStorage();
  try {
    const storage = new RecordingStorage(tmp.storage);
    assert.equal(await new CertificateStore(storage).load('local', NAME), undefined);
    assert.deepEqual(storage.reads, [KEYS.cert, PENDING]);
  } finally {
    await tmp.remove();
  }
});

test('a stored certificate is read whole (chain, key, metadata, pending record) and loads', async () => {
  const tmp = await tempStorage();
  try {
    const entry = await localIssuance(tmp.storage, NAME)();
    await new CertificateStore(tmp.storage).save('local', NAME, entry);
    const storage = new RecordingStorage(tmp.other());
    const loaded = await new CertificateStore(storage).load('local', NAME);
    assert.equal(loaded?.meta.serialHex, entry.meta.serialHex);
    assert.equal(loaded?.keyPem, entry.keyPem);
    assert.equal(storage.reads[0], KEYS.cert, 'the chain first');
    assert.deepEqual([...storage.reads].sort(), [KEYS.cert, KEYS.key, KEYS.meta, PENDING].sort());
  } finally {
    await tmp.remove();
  }
});

test('key and metadata without a chain (a removal cut short) load as no certificate', async () => {
  const tmp = await tempStorage();
  try {
    const entry = await localIssuance(tmp.storage, NAME)();
    const store = new CertificateStore(tmp.storage);
    await store.save('local', NAME, entry);
    await tmp.storage.delete(KEYS.cert);
    assert.equal(await tmp.storage.exists(KEYS.key), true);
    assert.equal(await new CertificateStore(tmp.other()).load('local', NAME), undefined);
    // And the name can be issued again: the next save is not a first one (parts are there), so it
    // goes through the pending record, and loads whole.
    const again = await localIssuance(tmp.storage, NAME)();
    await store.save('local', NAME, again);
    assert.equal((await new CertificateStore(tmp.other()).load('local', NAME))?.meta.serialHex, again.meta.serialHex);
  } finally {
    await tmp.remove();
  }
});

test('a first save tells the storage its keys are new; a renewal does not', async () => {
  const tmp = await tempStorage();
  try {
    const issue = localIssuance(tmp.storage, NAME);
    const storage = new RecordingStorage(tmp.storage);
    const store = new CertificateStore(storage);
    const first = await issue();
    await store.save('local', NAME, first);
    assert.deepEqual(storage.writes, [{ keys: [KEYS.key, KEYS.cert, KEYS.meta], absent: true }]);
    assert.equal((await new CertificateStore(tmp.other()).load('local', NAME))?.meta.serialHex, first.meta.serialHex);

    storage.writes.length = 0;
    const second = await issue();
    await store.save('local', NAME, second);
    assert.deepEqual(storage.writes.map((w) => w.keys), [[PENDING], [KEYS.key, KEYS.cert, KEYS.meta]], 'the pending record, then the parts');
    assert.ok(storage.writes.every((w) => w.absent !== true), 'none said to be new');
    assert.equal((await new CertificateStore(tmp.other()).load('local', NAME))?.meta.serialHex, second.meta.serialHex);
  } finally {
    await tmp.remove();
  }
});
