/**
 * CertificateStore's cheaper saves (issue 12): a name's first certificate is written without the
 * pending record, and the three parts go through Storage.putAll (one folder fsync) where the
 * storage has it. Crash safety must hold for both: a process killed while putAll has renamed any
 * subset of the parts stands for a crash there; a fresh FileStorage is the restarted process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { certificateKeys, certificatePendingKey } from '../../../src/certs/keys.ts';
import type { Storage, WriteOptions } from '../../../src/storage/storage.ts';
import { DelegatingStorage } from '../../helpers/delegating-storage.ts';
import { localIssuance, tempStorage, type IssuedEntry } from './helpers.ts';

const NAME = 'first.localhost';
const KEYS = certificateKeys('local', NAME);
const PENDING = certificatePendingKey('local', NAME);

type Entry = IssuedEntry;

/**
 * Records every key written and each write's `absent` hint, and with `crashAfter` renames only
 * those parts of a putAll, then dies.
 */
class RecordingStorage extends DelegatingStorage {
  readonly written: string[] = [];
  readonly absent: (boolean | undefined)[] = [];
  crashAfter: ((key: string) => boolean) | undefined;

  override async put(key: string, value: Buffer | string, options?: WriteOptions): Promise<void> {
    this.written.push(key);
    this.absent.push(options?.absent);
    await this.inner.put(key, value);
  }

  async putAll(entries: readonly (readonly [string, Buffer | string])[], options?: WriteOptions): Promise<void> {
    this.absent.push(options?.absent);
    const crash = this.crashAfter;
    for (const [key, value] of entries) {
      if (crash !== undefined && !crash(key)) continue;
      this.written.push(key);
      await this.inner.put(key, value);
    }
    if (crash !== undefined) throw new Error('simulated crash');
  }
}

const PARTS = [KEYS.key, KEYS.cert, KEYS.meta] as const;
/** Every subset of the parts a crash inside putAll can leave renamed into place, the empty and full sets included. */
const SUBSETS = Array.from({ length: 8 }, (_, mask) => PARTS.filter((_, i) => (mask & (1 << i)) !== 0));

function assertSame(got: Entry | undefined, want: Entry, what: string): void {
  assert.ok(got, `${what}: loaded nothing`);
  assert.equal(got.meta.serialHex, want.meta.serialHex, `${what}: serial`);
  assert.equal(got.keyPem, want.keyPem, `${what}: key`);
}

test('a first certificate is saved without a pending record; a renewal still writes one first', async () => {
  const tmp = await tempStorage();
  try {
    const issue = localIssuance(tmp.storage, NAME);
    const storage = new RecordingStorage(tmp.storage);
    const store = new CertificateStore(storage);
    const first = await issue();
    await store.save('local', NAME, first);
    assert.deepEqual(storage.written, [KEYS.key, KEYS.cert, KEYS.meta], 'first save: the parts only');
    // Said to be new, so a folder storage makes the folder before the temp files (issue 12).
    assert.deepEqual(storage.absent, [true], 'first save: one putAll, its keys said to be new');
    assertSame(await new CertificateStore(tmp.other()).load('local', NAME), first, 'first');
    assert.equal((await stat(join(tmp.dir, KEYS.key))).mode & 0o777, 0o600, 'the key file stays owner-only');

    storage.written.length = 0;
    storage.absent.length = 0;
    const second = await issue();
    await store.save('local', NAME, second);
    assert.deepEqual(storage.written, [PENDING, KEYS.key, KEYS.cert, KEYS.meta], 'renewal: pending record first');
    assert.ok(storage.absent.length > 0 && storage.absent.every((a) => a !== true), 'renewal: no write said to be new');
    assert.equal(await tmp.storage.exists(PENDING), false);
    assertSame(await new CertificateStore(tmp.other()).load('local', NAME), second, 'renewal');
  } finally {
    await tmp.remove();
  }
});

for (const subset of SUBSETS) {
  const left = subset.length === 0 ? 'no part' : subset.map((k) => k.slice(k.lastIndexOf('.'))).join(' + ');
  test(`a crash in a first save leaving ${left} loads as no certificate, and the next save stores a whole one`, async () => {
    const tmp = await tempStorage();
    try {
      const issue = localIssuance(tmp.storage, NAME);
      const storage = new RecordingStorage(tmp.storage);
      storage.crashAfter = (key) => subset.includes(key as (typeof PARTS)[number]);
      const entry = await issue();
      if (subset.length === 3) {
        // All three renamed but the folder not yet synced: the entry is whole if the renames survived.
        await assert.rejects(new CertificateStore(storage).save('local', NAME, entry), /simulated crash/);
        assertSame(await new CertificateStore(tmp.other()).load('local', NAME), entry, 'all parts');
      } else {
        await assert.rejects(new CertificateStore(storage).save('local', NAME, entry), /simulated crash/);
        assert.equal(await new CertificateStore(tmp.other()).load('local', NAME), undefined, 'an incomplete first entry is no certificate');
      }
      const next = await issue();
      await new CertificateStore(tmp.other()).save('local', NAME, next);
      assertSame(await new CertificateStore(tmp.other()).load('local', NAME), next, 'after the next save');
      assert.equal(await tmp.storage.exists(PENDING), false);
    } finally {
      await tmp.remove();
    }
  });

  test(`a crash in a renewal's batched parts leaving ${left} rolls the new certificate forward`, async () => {
    const tmp = await tempStorage();
    try {
      const issue = localIssuance(tmp.storage, NAME);
      await new CertificateStore(tmp.storage).save('local', NAME, await issue());
      const storage = new RecordingStorage(tmp.storage);
      storage.crashAfter = (key) => subset.includes(key as (typeof PARTS)[number]);
      const next = await issue();
      await assert.rejects(new CertificateStore(storage).save('local', NAME, next), /simulated crash/);
      assert.equal(await tmp.storage.exists(PENDING), true, 'the pending record outlives the crash');
      assertSame(await new CertificateStore(tmp.other()).load('local', NAME), next, 'rolled forward');
      assert.equal(await tmp.storage.exists(PENDING), false);
    } finally {
      await tmp.remove();
    }
  });
}

test('load never takes parts that disagree: a key of another certificate is no certificate', async () => {
  const tmp = await tempStorage();
  try {
    const issue = localIssuance(tmp.storage, NAME);
    const a = await issue();
    const b = await issue();
    const storage: Storage = tmp.storage;
    await storage.put(KEYS.key, b.keyPem);
    await storage.put(KEYS.cert, a.chainPem);
    await storage.put(KEYS.meta, JSON.stringify(a.meta, null, 2));
    assert.equal(await new CertificateStore(tmp.other()).load('local', NAME), undefined);
    await storage.put(KEYS.key, a.keyPem);
    await storage.put(KEYS.meta, JSON.stringify(b.meta, null, 2));
    assert.equal(await new CertificateStore(tmp.other()).load('local', NAME), undefined, 'metadata of another serial');
    await storage.put(KEYS.meta, JSON.stringify(a.meta, null, 2));
    assertSame(await new CertificateStore(tmp.other()).load('local', NAME), a, 'consistent again');
  } finally {
    await tmp.remove();
  }
});
