import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MyServerError } from '../../../src/errors.ts';
import { ChallengeStore } from '../../../src/challenges/challenge-store.ts';
import { FileStorage } from '../../../src/storage/file-storage.ts';
import { MemoryStorage } from './memory-storage.ts';

const CHALLENGE = { keyAuthorization: 'tok.thumb', identifier: { type: 'dns', value: 'a.test' } } as const;

test('an entry put by one instance is served by another instance sharing the storage', async () => {
  const storage = new MemoryStorage();
  const a = new ChallengeStore({ storage });
  const b = new ChallengeStore({ storage });
  await a.put('http-01', 'tok', CHALLENGE);
  const seen = await b.get('http-01', 'tok');
  assert.equal(seen?.keyAuthorization, 'tok.thumb');
  assert.deepEqual(seen?.identifier, CHALLENGE.identifier);
  assert.deepEqual(JSON.parse(storage.values.get('challenges/http-01/tok')?.value.toString() ?? '').identifier, CHALLENGE.identifier);
  await a.delete('http-01', 'tok');
  assert.equal(await a.get('http-01', 'tok'), undefined);
  assert.equal(await b.get('http-01', 'tok'), undefined);
});

test('the instance that put an entry answers from memory without reading storage', async () => {
  const storage = new MemoryStorage();
  const store = new ChallengeStore({ storage });
  await store.put('tls-alpn-01', 'a.test', CHALLENGE);
  const before = storage.gets;
  assert.equal((await store.get('tls-alpn-01', 'a.test'))?.keyAuthorization, 'tok.thumb');
  assert.equal(storage.gets, before);
});

test('a replacement put by another instance is seen at once (other instances\' entries are not cached)', async () => {
  const storage = new MemoryStorage();
  const a = new ChallengeStore({ storage });
  const b = new ChallengeStore({ storage });
  await a.put('tls-alpn-01', 'a.test', CHALLENGE);
  assert.equal((await b.get('tls-alpn-01', 'a.test'))?.keyAuthorization, 'tok.thumb');
  await a.put('tls-alpn-01', 'a.test', { ...CHALLENGE, keyAuthorization: 'retry.thumb' });
  assert.equal((await b.get('tls-alpn-01', 'a.test'))?.keyAuthorization, 'retry.thumb');
});

test('entries expire after the TTL and cleanup deletes expired and unreadable ones only', async () => {
  const storage = new MemoryStorage();
  let now = 1_000_000;
  const store = new ChallengeStore({ storage, ttlMs: 60_000, now: () => now });
  const other = new ChallengeStore({ storage, ttlMs: 60_000, now: () => now });
  await store.put('http-01', 'old', CHALLENGE);
  now += 30_000;
  await store.put('http-01', 'new', CHALLENGE);
  await storage.put('challenges/http-01/corrupt', '{not json');
  now += 30_001; // "old" is 60.001 s old, "new" 30.001 s
  assert.equal(await store.get('http-01', 'old'), undefined);
  assert.equal(await other.get('http-01', 'old'), undefined);
  assert.equal(await store.get('http-01', 'corrupt'), undefined);
  assert.ok(await store.get('http-01', 'new'));
  assert.equal(await store.cleanup(), 2);
  assert.deepEqual(await storage.list('challenges', true), ['challenges/http-01/new']);
});

test('names that could escape the challenges folder are refused on put and never looked up', async () => {
  const storage = new MemoryStorage();
  const store = new ChallengeStore({ storage });
  for (const name of ['../accounts/x', 'a/b', '.hidden', '', 'a b', 'x'.repeat(300)]) {
    await assert.rejects(store.put('http-01', name, CHALLENGE), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_CHALLENGE_FAILED');
    assert.equal(await store.get('http-01', name), undefined);
  }
  assert.equal(storage.gets, 0);
  assert.equal(storage.values.size, 0);
});

test('storage failures reach the caller as rejections', async () => {
  const storage = new MemoryStorage();
  const store = new ChallengeStore({ storage });
  storage.failWith = new MyServerError('MS_ERR_STORAGE', 'disk on fire');
  await assert.rejects(store.get('http-01', 'tok'), /disk on fire/);
  await assert.rejects(store.put('http-01', 'tok', CHALLENGE), /disk on fire/);
});

test('with FileStorage, IPv6 identifiers and tokens make valid keys and are shared through the directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-challenges-'));
  try {
    const a = new ChallengeStore({ storage: new FileStorage(dir) });
    const b = new ChallengeStore({ storage: new FileStorage(dir) });
    await a.put('tls-alpn-01', '2001:db8::1', { keyAuthorization: 'k.t', identifier: { type: 'ip', value: '2001:db8::1' } });
    await a.put('http-01', 'Ab-_09', CHALLENGE);
    assert.equal((await b.get('tls-alpn-01', '2001:db8::1'))?.keyAuthorization, 'k.t');
    assert.equal((await b.get('http-01', 'Ab-_09'))?.keyAuthorization, 'tok.thumb');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
