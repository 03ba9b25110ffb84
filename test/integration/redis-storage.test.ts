import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createClient } from '@redis/client';
import { RedisStorage } from '../../src/storage/redis-storage.ts';
import { createStorage } from '../../src/storage/index.ts';
import { storageConformance } from '../helpers/storage-conformance.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

let redis: RedisServer | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

function server(): RedisServer {
  assert.ok(redis !== undefined, 'redis-server not started');
  return redis;
}

/** Each test gets its own prefix on the shared server, which is as good as an empty store. */
storageConformance('RedisStorage', async () => {
  const prefix = `test-${randomUUID()}`;
  const made: RedisStorage[] = [];
  const open = async (): Promise<RedisStorage> => {
    const s = new RedisStorage({ url: server().url, prefix });
    await s.connect();
    made.push(s);
    return s;
  };
  const storage = await open();
  return { storage, another: open, cleanup: async () => void (await Promise.all(made.map((s) => s.close()))) };
});

test('RedisStorage lock of a holder closed without unlock expires after its TTL, and not before', async () => {
  const prefix = `ttl-${randomUUID()}`;
  const holder = new RedisStorage({ url: server().url, prefix, lockTtlMs: 400 });
  const waiter = new RedisStorage({ url: server().url, prefix, lockTtlMs: 400 });
  await holder.connect();
  await waiter.connect();
  try {
    await holder.lock('crash');
    // Three TTLs: without the holder's refreshes the lock would have expired.
    await assert.rejects(waiter.lock('crash', { timeoutMs: 1200 }), { code: 'MS_ERR_LOCK_TIMEOUT' });
    await holder.close();
    const closedAt = Date.now();
    await waiter.lock('crash', { timeoutMs: 3000 });
    assert.ok(Date.now() - closedAt < 2000, 'the lock outlived its TTL');
    await waiter.unlock('crash');
  } finally {
    await holder.close();
    await waiter.close();
  }
});

test('RedisStorage keeps its keys under the prefix so deployments can share a server', async () => {
  const a = new RedisStorage({ url: server().url, prefix: `a-${randomUUID()}` });
  const b = new RedisStorage({ url: server().url, prefix: `b-${randomUUID()}` });
  await a.connect();
  await b.connect();
  try {
    await a.put('certificates/x', 'only in a');
    assert.equal(await b.get('certificates/x'), undefined);
    assert.deepEqual(await b.list('', true), []);
    await a.lock('same-name');
    await b.lock('same-name', { timeoutMs: 1000 });
    await a.unlock('same-name');
    await b.unlock('same-name');
  } finally {
    await a.close();
    await b.close();
  }
});

test('RedisStorage lists keys holding bytes above U+00FF under their folder', async () => {
  const s = new RedisStorage({ url: server().url, prefix: `u-${randomUUID()}` });
  await s.connect();
  try {
    // 'ÿ' is U+00FF, encoded C3 BF: a text upper bound "\xff" would cut "ÿz" off.
    for (const key of ['n/ÿz', 'n/中文', 'n/a', 'n0/outside']) await s.put(key, key);
    assert.deepEqual(await s.list('n'), ['n/a', 'n/ÿz', 'n/中文']);
  } finally {
    await s.close();
  }
});

test('createStorage connects to Redis and rejects MS_ERR_STORAGE when the server is unreachable', async () => {
  const s = await createStorage({ kind: 'redis', url: server().url, prefix: `c-${randomUUID()}` });
  try {
    await s.put('k', 'v');
    assert.deepEqual(await s.get('k'), Buffer.from('v'));
    assert.match(s.toString(), /^redis:redis:\/\/127\.0\.0\.1:\d+/);
  } finally {
    await s.close();
  }
  // Port 1 is privileged and unused on the loopback: the connection is refused.
  await assert.rejects(createStorage({ kind: 'redis', url: 'redis://127.0.0.1:1' }), { code: 'MS_ERR_STORAGE' });
});

test('RedisStorage stores values as binary-safe hashes that another client can read', async () => {
  const prefix = `raw-${randomUUID()}`;
  const s = new RedisStorage({ url: server().url, prefix });
  await s.connect();
  const raw = createClient({ url: server().url });
  raw.on('error', () => undefined);
  await raw.connect();
  try {
    await s.put('a/b', 'value');
    assert.equal(await raw.hGet(`${prefix}:data:a/b`, 'v'), 'value');
    assert.deepEqual(await raw.zRange(`${prefix}:keys`, 0, -1), ['a/b']);
    await s.delete('a/b');
    assert.equal(await raw.exists(`${prefix}:data:a/b`), 0);
    assert.deepEqual(await raw.zRange(`${prefix}:keys`, 0, -1), []);
  } finally {
    raw.destroy();
    await s.close();
  }
});
