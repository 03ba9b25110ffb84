/**
 * CertificateStore against crashes inside save(): a Storage that stops after N writes stands for a
 * process killed at that point; a fresh FileStorage over the same folder is the restarted process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CertificateStore, type StoredCertificate } from '../../../src/certs/certificate-store.ts';
import { certificateKeys, certificatePendingKey, certificateWriteLockName } from '../../../src/certs/keys.ts';
import type { CertificateMeta } from '../../../src/certs/meta.ts';
import type { Storage } from '../../../src/storage/storage.ts';
import { DelegatingStorage } from '../../helpers/delegating-storage.ts';
import { delay, localIssuance, tempStorage, type TempStorage } from './helpers.ts';

const NAME = 'a.localhost';
const KEYS = certificateKeys('local', NAME);
const PENDING = certificatePendingKey('local', NAME);

type Entry = Pick<StoredCertificate, 'chainPem' | 'keyPem' | 'meta'>;

/** A real storage whose writes (put and delete) fail from the (allowed + 1)th on, as if the process died there. */
class CrashingStorage extends DelegatingStorage {
  #allowed: number;

  constructor(inner: Storage, allowed: number) {
    super(inner);
    this.#allowed = allowed;
  }

  #write(): void {
    if (this.#allowed-- <= 0) throw new Error('simulated crash');
  }

  override async put(key: string, value: Buffer | string): Promise<void> {
    this.#write();
    await this.inner.put(key, value);
  }
  override async delete(key: string): Promise<void> {
    this.#write();
    await this.inner.delete(key);
  }
  override toString(): string {
    return `crashing ${this.inner.toString()}`;
  }
}

interface Setup {
  readonly tmp: TempStorage;
  readonly old: StoredCertificate;
  /** A fresh certificate for NAME, not yet stored. */
  readonly next: Entry;
  issue(): Promise<Entry>;
}

/** A stored certificate ("old") and a second one ready to save over it ("next"). */
async function setup(): Promise<Setup> {
  const tmp = await tempStorage();
  const issue = localIssuance(tmp.storage, NAME);
  const old = await new CertificateStore(tmp.storage).save('local', NAME, await issue());
  return { tmp, old, next: await issue(), issue };
}

/** What a restarted process finds: a new FileStorage and store over the same folder. */
function restarted(s: Setup, options?: ConstructorParameters<typeof CertificateStore>[1]): CertificateStore {
  return new CertificateStore(s.tmp.other(), options);
}

function assertSame(got: Entry | undefined, want: Entry, what: string): void {
  assert.ok(got, `${what}: loaded nothing`);
  assert.equal(got.meta.serialHex, want.meta.serialHex, `${what}: serial`);
  assert.equal(got.chainPem, want.chainPem, `${what}: chain`);
  assert.equal(got.keyPem, want.keyPem, `${what}: key`);
}

/** The three parts as they are in storage now. */
async function partsInStorage(storage: Storage): Promise<Entry | undefined> {
  const [cert, key, meta] = await Promise.all([storage.get(KEYS.cert), storage.get(KEYS.key), storage.get(KEYS.meta)]);
  if (!cert || !key || !meta) return undefined;
  return { chainPem: cert.toString(), keyPem: key.toString(), meta: JSON.parse(meta.toString()) as CertificateMeta };
}

// save() writes: pending record, key, chain, metadata, then deletes the pending record.
const WINDOWS = [
  { writes: 0, at: 'before the pending record is written', loads: 'old' },
  { writes: 1, at: 'after the pending record', loads: 'new' },
  { writes: 2, at: 'after the new key', loads: 'new' },
  { writes: 3, at: 'after the new chain', loads: 'new' },
  { writes: 4, at: 'after the new metadata', loads: 'new' },
  { writes: 5, at: 'after the pending record is deleted', loads: 'new' },
] as const;

for (const w of WINDOWS) {
  test(`a crash ${w.at} loads the complete ${w.loads} certificate and leaves no pending record`, async () => {
    const s = await setup();
    try {
      const crashing = new CertificateStore(new CrashingStorage(s.tmp.storage, w.writes));
      const saving = crashing.save('local', NAME, s.next);
      if (w.writes < 5) await assert.rejects(saving, /simulated crash/);
      else await saving;
      // The crash left what this window should: a pending record exactly while the save was midway.
      assert.equal(await s.tmp.storage.exists(PENDING), w.writes >= 1 && w.writes <= 4, 'pending record after the crash');

      const want = w.loads === 'old' ? s.old : s.next;
      assertSame(await restarted(s).load('local', NAME), want, 'load after restart');
      assert.equal(await s.tmp.storage.exists(PENDING), false, 'pending record after load');
      // Rolled forward in storage, not just in the answer: the parts on disk are the whole entry.
      assertSame(await partsInStorage(s.tmp.storage), want, 'parts in storage');
      assert.equal((await restarted(s).loadMeta('local', NAME))?.serialHex, want.meta.serialHex);
    } finally {
      await s.tmp.remove();
    }
  });
}

test('the pending record holds the private key and is owner-only (0600) like the key file', async () => {
  const s = await setup();
  try {
    await assert.rejects(new CertificateStore(new CrashingStorage(s.tmp.storage, 1)).save('local', NAME, s.next));
    const bytes = await s.tmp.storage.get(PENDING);
    assert.ok(bytes?.toString().includes(JSON.stringify(s.next.keyPem)));
    assert.equal((await stat(join(s.tmp.dir, PENDING))).mode & 0o777, 0o600);
  } finally {
    await s.tmp.remove();
  }
});

const CORRUPT: { readonly what: string; readonly record: (s: Setup) => string }[] = [
  { what: 'not JSON (truncated)', record: (s) => JSON.stringify({ keyPem: s.next.keyPem, chainPem: s.next.chainPem, meta: s.next.meta }).slice(0, 200) },
  { what: 'JSON without the entry fields', record: () => JSON.stringify({ keyPem: 'x' }) },
  { what: "a key that is not the chain's", record: (s) => JSON.stringify({ keyPem: s.old.keyPem, chainPem: s.next.chainPem, meta: s.next.meta }) },
  { what: 'metadata of another certificate', record: (s) => JSON.stringify({ keyPem: s.next.keyPem, chainPem: s.next.chainPem, meta: s.old.meta }) },
];

for (const c of CORRUPT) {
  test(`a pending record with ${c.what} is discarded and the old certificate still loads`, async () => {
    const s = await setup();
    try {
      await s.tmp.storage.put(PENDING, c.record(s));
      assertSame(await restarted(s).load('local', NAME), s.old, 'load');
      assert.equal(await s.tmp.storage.exists(PENDING), false, 'pending record after load');
      assertSame(await partsInStorage(s.tmp.storage), s.old, 'parts in storage');
    } finally {
      await s.tmp.remove();
    }
  });
}

test('an entry written without a pending record (earlier versions) loads as before', async () => {
  const s = await setup();
  try {
    await s.tmp.storage.put(KEYS.key, s.next.keyPem);
    await s.tmp.storage.put(KEYS.cert, s.next.chainPem);
    await s.tmp.storage.put(KEYS.meta, JSON.stringify(s.next.meta, null, 2));
    assertSame(await restarted(s).load('local', NAME), s.next, 'load');
  } finally {
    await s.tmp.remove();
  }
});

test('list shows an interrupted save once, never its pending record', async () => {
  const s = await setup();
  try {
    await assert.rejects(new CertificateStore(new CrashingStorage(s.tmp.storage, 2)).save('local', NAME, s.next));
    const listed = await restarted(s).list();
    assert.equal(listed.length, 1);
    assert.deepEqual(listed[0]?.keys, KEYS);
  } finally {
    await s.tmp.remove();
  }
});

test('loads racing to roll the same interrupted save forward all return it and leave it whole', async () => {
  const s = await setup();
  try {
    await assert.rejects(new CertificateStore(new CrashingStorage(s.tmp.storage, 2)).save('local', NAME, s.next));
    const loaded = await Promise.all([restarted(s), restarted(s), restarted(s), new CertificateStore(s.tmp.storage)].map((st) => st.load('local', NAME)));
    for (const [i, got] of loaded.entries()) assertSame(got, s.next, `load ${i}`);
    assert.equal(await s.tmp.storage.exists(PENDING), false);
    assertSame(await partsInStorage(s.tmp.storage), s.next, 'parts in storage');
  } finally {
    await s.tmp.remove();
  }
});

test('a load that read a pending record does not write it over a newer save that finished while it waited', async () => {
  const s = await setup();
  try {
    const newest = await s.issue();
    const lock = certificateWriteLockName('local', NAME);
    // A writer (another process) is midway through saving `next`: it holds the write lock.
    await s.tmp.storage.lock(lock);
    await s.tmp.storage.put(PENDING, JSON.stringify(s.next));
    await s.tmp.storage.put(KEYS.key, s.next.keyPem);
    const loading = restarted(s).load('local', NAME);
    await delay(300);
    // It finishes `next`, then saves `newest`, before letting go.
    await s.tmp.storage.put(KEYS.cert, s.next.chainPem);
    await s.tmp.storage.put(KEYS.meta, JSON.stringify(s.next.meta, null, 2));
    await s.tmp.storage.delete(PENDING);
    await s.tmp.storage.put(PENDING, JSON.stringify(newest));
    await s.tmp.storage.put(KEYS.key, newest.keyPem);
    await s.tmp.storage.put(KEYS.cert, newest.chainPem);
    await s.tmp.storage.put(KEYS.meta, JSON.stringify(newest.meta, null, 2));
    await s.tmp.storage.delete(PENDING);
    await s.tmp.storage.unlock(lock);
    assertSame(await loading, newest, 'load');
    assertSame(await partsInStorage(s.tmp.storage), newest, 'parts in storage');
  } finally {
    await s.tmp.remove();
  }
});

test('a load that cannot get the write lock serves the pending record unwritten; a later load rolls it forward', async () => {
  const s = await setup();
  try {
    const lock = certificateWriteLockName('local', NAME);
    // A writer that stopped after the new key and still holds the lock (stuck, or dead on another host).
    await s.tmp.storage.lock(lock);
    await s.tmp.storage.put(PENDING, JSON.stringify(s.next));
    await s.tmp.storage.put(KEYS.key, s.next.keyPem);
    assertSame(await restarted(s, { recoveryLockWaitMs: 200 }).load('local', NAME), s.next, 'load while locked');
    assert.equal(await s.tmp.storage.exists(PENDING), true, 'nothing written without the lock');
    assert.equal((await s.tmp.storage.get(KEYS.cert))?.toString(), s.old.chainPem);
    await s.tmp.storage.unlock(lock);
    assertSame(await restarted(s).load('local', NAME), s.next, 'load after unlock');
    assert.equal(await s.tmp.storage.exists(PENDING), false);
    assertSame(await partsInStorage(s.tmp.storage), s.next, 'parts in storage');
  } finally {
    await s.tmp.remove();
  }
});

test('save refuses an entry whose key is not the chain\'s and keeps the old certificate', async () => {
  const s = await setup();
  try {
    const store = new CertificateStore(s.tmp.storage);
    await assert.rejects(store.save('local', NAME, { ...s.next, keyPem: s.old.keyPem }), { code: 'MS_ERR_X509' });
    assertSame(await store.load('local', NAME), s.old, 'load');
    assert.equal(await s.tmp.storage.exists(PENDING), false);
  } finally {
    await s.tmp.remove();
  }
});

test('remove also deletes a pending record, so an interrupted save does not come back', async () => {
  const s = await setup();
  try {
    await assert.rejects(new CertificateStore(new CrashingStorage(s.tmp.storage, 1)).save('local', NAME, s.next));
    await restarted(s).remove('local', NAME);
    assert.equal(await s.tmp.storage.exists(PENDING), false);
    assert.equal(await restarted(s).load('local', NAME), undefined);
  } finally {
    await s.tmp.remove();
  }
});
