/**
 * What the certificate store tells storage on a first save (issue 12): that its keys are new, so
 * a folder storage makes the folder before writing rather than after three failed opens; a renewal
 * does not say so. And what a load makes of a chain that is missing while its key and metadata are
 * there: no certificate, and the name can be issued again.
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

/** Records the options of every write. */
class RecordingStorage extends DelegatingStorage {
  readonly writes: { keys: string[]; absent: boolean | undefined }[] = [];

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

test('key and metadata without a chain (a first save cut short) load as no certificate', async () => {
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
