/**
 * The local CA is created under its storage lock, and with Redis its writes carry the lock's
 * fencing token: an instance paused past the lease (a GC pause, SIGSTOP) must not replace the CA
 * another instance created meanwhile, whose root clients may already trust. Real redis-server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { LocalIssuer } from '../../src/certs/local-issuer.ts';
import { LOCAL_CA_LOCK, localCaKeys } from '../../src/certs/keys.ts';
import { silentLogger } from '../../src/log.ts';
import { FencedWriteError } from '../../src/storage/fenced.ts';
import { RedisStorage } from '../../src/storage/redis-storage.ts';
import type { WriteOptions } from '../../src/storage/storage.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';

let redis: RedisServer | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

const LEASE_MS = 1_000;

/** Blocks this thread, the lease refresh timer included, as a stopped process would be. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Storage of instance A: just before its first CA write it stalls past its lease, and instance B
 * (its own connection) takes the lock over and stores its own root key.
 */
class StallingStorage extends RedisStorage {
  stalled = false;
  other: RedisStorage | undefined;

  override async put(key: string, value: Buffer | string, options?: WriteOptions): Promise<void> {
    if (!this.stalled && key === localCaKeys.rootKey && this.other !== undefined) {
      this.stalled = true;
      pause(LEASE_MS + 500);
      await this.other.lock(LOCAL_CA_LOCK, { timeoutMs: 5_000 });
      await this.other.put(localCaKeys.rootKey, 'B-root-key', { fence: this.other.fence(LOCAL_CA_LOCK) });
      await this.other.unlock(LOCAL_CA_LOCK);
    }
    return super.put(key, value, options);
  }
}

test('a paused instance cannot overwrite the local CA another one stored after its lease ran out', async () => {
  assert.ok(redis !== undefined);
  const prefix = `ca-${randomUUID()}`;
  const a = new StallingStorage({ url: redis.url, prefix, lockTtlMs: LEASE_MS });
  const b = new RedisStorage({ url: redis.url, prefix, lockTtlMs: LEASE_MS });
  await a.connect();
  await b.connect();
  try {
    a.other = b;
    const issuer = new LocalIssuer({ storage: a, log: silentLogger() });
    await assert.rejects(issuer.issue({ names: ['x.localhost'], keyPem: '' } as never), (err: unknown) => {
      assert.ok(err instanceof FencedWriteError, `refused by the fence: ${String(err)}`);
      return true;
    });
    assert.ok(a.stalled, 'A stalled at its first CA write');
    assert.equal((await b.get(localCaKeys.rootKey))?.toString(), 'B-root-key', "B's CA stays");
  } finally {
    await a.close();
    await b.close();
  }
});
