/**
 * The one timeout race of storage/redis-storage.ts (withinTimeout), against a real redis-server
 * stopped with SIGSTOP (it keeps the TCP connection and answers nothing until SIGCONT): a reply
 * that comes after its call timed out acts only through the call's `late` hook, and a PING that
 * timed out is still the one in flight, so a stopped server does not collect a PING per interval.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { RedisStorage } from '../../src/storage/redis-storage.ts';
import type { StorageState } from '../../src/storage/storage.ts';
import { startControlledRedis, type ControlledRedis } from '../helpers/redis-control.ts';

let redis: ControlledRedis | undefined;
const server = (): ControlledRedis => redis as ControlledRedis;

before(async () => {
  redis = await startControlledRedis();
});

after(async () => {
  await redis?.stop();
});

const url = (): string => `redis://127.0.0.1:${server().port}`;

async function pingCalls(): Promise<number> {
  const { stdout } = await server().cli(['info', 'commandstats']);
  return Number(/cmdstat_ping:calls=(\d+)/.exec(stdout)?.[1] ?? '0');
}

function nextState(s: RedisStorage, want: StorageState['state']): Promise<void> {
  return new Promise((resolve) => {
    const off = s.onStateChange((state) => {
      if (state.state === want) {
        off();
        resolve();
      }
    });
  });
}

async function stopped<T>(ms: number, during: () => Promise<T>): Promise<T> {
  process.kill(server().pid(), 'SIGSTOP');
  try {
    const [result] = await Promise.all([during(), new Promise((r) => setTimeout(r, ms))]);
    return result;
  } finally {
    process.kill(server().pid(), 'SIGCONT');
  }
}

test('a stopped server gets one PING in flight, not one per probe interval', async () => {
  const s = new RedisStorage({ url: url(), prefix: `p-${randomUUID()}`, timeoutMs: 300 });
  await s.connect();
  try {
    const before = await pingCalls();
    const down = nextState(s, 'down');
    // 4 s stopped: the probe runs every second, each PING times out after 300 ms.
    await stopped(4_000, () => down);
    await nextState(s, 'up');
    const sent = (await pingCalls()) - before;
    // The PING in flight when it stopped, and the one that found it up again.
    assert.ok(sent <= 2, `PINGs sent while stopped and just after: ${sent}`);
  } finally {
    await s.close();
  }
});

test('a lock taken by a call that timed out is freed by its late reply, and never frees a later holder', async () => {
  const prefix = `l-${randomUUID()}`;
  // A long lease: only the late unlock can free the lock within this test.
  const a = new RedisStorage({ url: url(), prefix, timeoutMs: 300, lockTtlMs: 60_000 });
  await a.connect();
  let b: RedisStorage | undefined;
  let c: RedisStorage | undefined;
  try {
    await stopped(1_000, () => assert.rejects(a.lock('n', { timeoutMs: 500 }), { name: 'StorageUnavailableError' }));
    // The SET NX ran when Redis woke up and the late reply freed it: another node takes it at once.
    b = new RedisStorage({ url: url(), prefix, timeoutMs: 2_000, lockTtlMs: 60_000 });
    await b.connect();
    await b.lock('n', { timeoutMs: 2_000 });
    assert.equal(a.fence('n'), undefined, 'the timed-out call holds nothing');
    // a's late hook ran before b locked (one connection, replies in order); b keeps its lock.
    c = new RedisStorage({ url: url(), prefix, timeoutMs: 2_000, lockTtlMs: 60_000 });
    await c.connect();
    await assert.rejects(c.lock('n', { timeoutMs: 700 }), { code: 'MS_ERR_LOCK_TIMEOUT' });
    await b.unlock('n');
    await c.lock('n', { timeoutMs: 2_000 });
    await c.unlock('n');
  } finally {
    await Promise.all([a.close(), b?.close(), c?.close()]);
  }
});

test('close() of a stopped server returns within the timeout', async () => {
  const s = new RedisStorage({ url: url(), prefix: `c-${randomUUID()}`, timeoutMs: 300 });
  await s.connect();
  process.kill(server().pid(), 'SIGSTOP');
  try {
    const started = Date.now();
    await s.close();
    assert.ok(Date.now() - started < 2_000, `close took ${Date.now() - started} ms`);
  } finally {
    process.kill(server().pid(), 'SIGCONT');
  }
});
