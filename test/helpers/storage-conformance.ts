import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MyServerError } from '../../src/errors.ts';
import type { Storage } from '../../src/storage/storage.ts';

/**
 * How long a lock is held while another waits for it: past the first polls of lock-wait.ts
 * (100 ms, then doubling), so a lock that wrongly let the waiter through would have done so.
 */
const HELD_MS = 300;

export interface StorageUnderTest {
  readonly storage: Storage;
  /** Another instance over the same backing store, as a second process would open it. */
  another(): Promise<Storage>;
  /** Closes every instance made and removes the backing store. */
  cleanup(): Promise<void>;
}

/**
 * The contract of src/storage/storage.ts as node:test tests; every Storage implementation runs it.
 * Each test gets a fresh, empty backing store from `makeStorage`.
 */
export function storageConformance(name: string, makeStorage: () => Promise<StorageUnderTest>): void {
  const withStorage = (fn: (s: StorageUnderTest) => Promise<void>) => async () => {
    const s = await makeStorage();
    try {
      await fn(s);
    } finally {
      await s.cleanup();
    }
  };

  describe(`Storage conformance: ${name}`, () => {
    test('get of a missing key resolves undefined', withStorage(async ({ storage }) => {
      assert.equal(await storage.get('nothing/here'), undefined);
    }));

    test('put then get returns the same bytes, binary and string values alike', withStorage(async ({ storage }) => {
      const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
      await storage.put('bin/all-bytes', bytes);
      assert.deepEqual(await storage.get('bin/all-bytes'), bytes);
      await storage.put('text/utf8', 'héllo ✓');
      assert.deepEqual(await storage.get('text/utf8'), Buffer.from('héllo ✓', 'utf8'));
      await storage.put('empty', Buffer.alloc(0));
      assert.deepEqual(await storage.get('empty'), Buffer.alloc(0));
    }));

    test('put over an existing key replaces the whole value', withStorage(async ({ storage }) => {
      await storage.put('k', Buffer.alloc(1000, 1));
      await storage.put('k', 'short');
      assert.deepEqual(await storage.get('k'), Buffer.from('short'));
    }));

    test('delete removes a key and deleting a missing key is not an error', withStorage(async ({ storage }) => {
      await storage.delete('never/was');
      await storage.put('a/b', 'x');
      await storage.delete('a/b');
      assert.equal(await storage.get('a/b'), undefined);
      assert.equal(await storage.exists('a/b'), false);
      await storage.delete('a/b');
    }));

    test('exists is true only while the key holds a value', withStorage(async ({ storage }) => {
      assert.equal(await storage.exists('e/k'), false);
      await storage.put('e/k', '');
      assert.equal(await storage.exists('e/k'), true);
      assert.equal(await storage.exists('e'), false, 'a folder is not a key');
      await storage.delete('e/k');
      assert.equal(await storage.exists('e/k'), false);
    }));

    test('list gives immediate children, or every key below when recursive, sorted', withStorage(async ({ storage }) => {
      for (const key of ['a/y/z', 'b', 'a/x', 'a/y/w', 'ab/q']) await storage.put(key, key);
      assert.deepEqual(await storage.list('a'), ['a/x', 'a/y']);
      assert.deepEqual(await storage.list('a', true), ['a/x', 'a/y/w', 'a/y/z']);
      assert.deepEqual(await storage.list('a/y'), ['a/y/w', 'a/y/z']);
      assert.deepEqual(await storage.list(''), ['a', 'ab', 'b']);
      assert.deepEqual(await storage.list('', true), ['a/x', 'a/y/w', 'a/y/z', 'ab/q', 'b']);
      assert.deepEqual(await storage.list('missing'), []);
      assert.deepEqual(await storage.list('missing', true), []);
      assert.deepEqual(await storage.list('b'), [], 'a value has no children');
    }));

    test('list stops showing a folder once its last key is deleted', withStorage(async ({ storage }) => {
      await storage.put('f/keep', '1');
      await storage.put('f/sub/gone', '2');
      await storage.delete('f/sub/gone');
      assert.deepEqual(await storage.list('f'), ['f/keep']);
      assert.deepEqual(await storage.list('f/sub'), []);
    }));

    test('stat reports the size in bytes and a current modification time', withStorage(async ({ storage }) => {
      assert.equal(await storage.stat('s/missing'), undefined);
      const before = Date.now();
      await storage.put('s/k', '✓✓');
      const after = Date.now();
      const st = await storage.stat('s/k');
      assert.ok(st !== undefined);
      assert.equal(st.size, 6);
      assert.ok(st.modified instanceof Date);
      // Filesystem timestamps may be coarser than Date.now(): allow a second either side.
      assert.ok(st.modified.getTime() >= before - 1000 && st.modified.getTime() <= after + 1000, st.modified.toISOString());
    }));

    test('invalid keys are rejected with MS_ERR_STORAGE naming the key', withStorage(async ({ storage }) => {
      for (const key of ['', '/abs', 'a//b', 'a/', '../up', 'a/../b', 'a/./b', 'a\\b', 'a\0b', '.hidden', 'locks/x']) {
        await assert.rejects(storage.put(key, 'x'), (err: unknown) => {
          assert.ok(err instanceof MyServerError);
          assert.equal(err.code, 'MS_ERR_STORAGE');
          assert.ok(err.message.includes(JSON.stringify(key)), err.message);
          return true;
        });
        await assert.rejects(storage.get(key), { code: 'MS_ERR_STORAGE' });
      }
    }));

    test('a second lock on a held name waits until the holder unlocks', withStorage(async ({ storage }) => {
      const events: string[] = [];
      await storage.lock('order');
      events.push('first locked');
      const second = storage.lock('order').then(() => events.push('second locked'));
      // "The second lock does not get through while the first is held" is the behaviour under
      // test: a wait longer than the lock's first polls, during which nothing may happen.
      await sleep(HELD_MS);
      events.push('first unlocking');
      await storage.unlock('order');
      await second;
      assert.deepEqual(events, ['first locked', 'first unlocking', 'second locked']);
      await storage.unlock('order');
    }));

    test('locks on different names do not exclude each other', withStorage(async ({ storage }) => {
      await storage.lock('one');
      await storage.lock('two', { timeoutMs: 2000 });
      await storage.unlock('one');
      await storage.unlock('two');
    }));

    test('a lock is free again right after unlock, and unlocking a free name is a no-op', withStorage(async ({ storage }) => {
      await storage.unlock('never-held');
      await storage.lock('again');
      await storage.unlock('again');
      await storage.lock('again', { timeoutMs: 2000 });
      await storage.unlock('again');
    }));

    test('lock with timeoutMs rejects MS_ERR_LOCK_TIMEOUT while the name is held', withStorage(async ({ storage }) => {
      await storage.lock('busy');
      const start = Date.now();
      await assert.rejects(storage.lock('busy', { timeoutMs: 300 }), { code: 'MS_ERR_LOCK_TIMEOUT' });
      assert.ok(Date.now() - start >= 250, 'gave up before the timeout');
      await storage.unlock('busy');
    }));

    test('an aborted signal rejects a waiting lock with MS_ERR_ABORTED', withStorage(async ({ storage }) => {
      await storage.lock('held');
      const controller = new AbortController();
      const waiting = storage.lock('held', { signal: controller.signal });
      // The abort must find the lock waiting, not be checked at entry (the case below): no
      // Storage shows from outside that it is waiting, so let it start its polls first.
      await sleep(150);
      controller.abort(new Error('shutting down'));
      await assert.rejects(waiting, { code: 'MS_ERR_ABORTED' });
      await assert.rejects(storage.lock('free', { signal: AbortSignal.abort() }), { code: 'MS_ERR_ABORTED' });
      await storage.unlock('held');
    }));

    test('concurrent puts of one key leave exactly one complete value', withStorage(async ({ storage }) => {
      // Large enough to be written in several chunks; sizes differ so a torn write shows.
      const values = Array.from({ length: 8 }, (_, i) => Buffer.alloc(2 * 1024 * 1024 - i * 4096, i + 1));
      await Promise.all(values.map((v) => storage.put('race/key', v)));
      const got = await storage.get('race/key');
      assert.ok(got !== undefined);
      assert.ok(values.some((v) => v.equals(got)), `a mixed value of ${got.length} bytes`);
    }));

    test('readers during puts see the old or the new value, never a mix', withStorage(async ({ storage }) => {
      const values = Array.from({ length: 4 }, (_, i) => Buffer.alloc(1024 * 1024 + i * 4096, i + 1));
      await storage.put('torn/key', values[0]!);
      let writing = true;
      const writes = (async () => {
        for (let round = 0; round < 5 && writing; round++) {
          for (const v of values) await storage.put('torn/key', v);
        }
        writing = false;
      })();
      let reads = 0;
      let torn: Buffer | undefined;
      while (writing) {
        const got = await storage.get('torn/key');
        reads++;
        if (got === undefined || !values.some((v) => v.equals(got))) {
          torn = got ?? Buffer.alloc(0);
          writing = false;
        }
      }
      // Let the writer finish before cleanup removes the store under it.
      await writes;
      assert.equal(torn?.length, undefined, 'a read saw a value that was never written');
      assert.ok(reads > 0);
    }));

    test('two instances over one backing store see each other and exclude each other with lock', withStorage(async (s) => {
      const other = await s.another();
      await s.storage.put('shared/k', 'from first');
      assert.deepEqual(await other.get('shared/k'), Buffer.from('from first'));

      const events: string[] = [];
      await s.storage.lock('cluster');
      events.push('first locked');
      const second = other.lock('cluster').then(() => events.push('second locked'));
      // As above: while the first instance holds the lock, nothing may get through.
      await sleep(HELD_MS);
      await other.unlock('cluster');
      await assert.rejects(other.lock('cluster', { timeoutMs: 200 }), { code: 'MS_ERR_LOCK_TIMEOUT' },
        'an unlock by a non-holder must not release the lock');
      events.push('first unlocking');
      await s.storage.unlock('cluster');
      await second;
      assert.deepEqual(events, ['first locked', 'first unlocking', 'second locked']);
      await other.unlock('cluster');
    }));
  });
}
