import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SingleFlight } from '../../../src/util/single-flight.ts';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('concurrent do() calls for one key share a single call and its result', async () => {
  const sf = new SingleFlight<number>();
  const gate = deferred<number>();
  let calls = 0;
  const fn = (): Promise<number> => {
    calls++;
    return gate.promise;
  };
  const all = Array.from({ length: 10 }, () => sf.do('k', fn));
  assert.equal(sf.has('k'), true);
  gate.resolve(42);
  assert.deepEqual(await Promise.all(all), Array(10).fill(42));
  assert.equal(calls, 1);
  assert.equal(sf.has('k'), false);
});

test('different keys run independently', async () => {
  const sf = new SingleFlight<string>();
  let calls = 0;
  const [a, b] = await Promise.all([
    sf.do('a', async () => {
      calls++;
      return 'A';
    }),
    sf.do('b', async () => {
      calls++;
      return 'B';
    }),
  ]);
  assert.deepEqual([a, b, calls], ['A', 'B', 2]);
});

test('a rejected call is shared by its waiters but not cached: the next do() runs again', async () => {
  const sf = new SingleFlight<string>();
  const gate = deferred<string>();
  let calls = 0;
  const first = [sf.do('k', () => (calls++, gate.promise)), sf.do('k', () => (calls++, gate.promise))];
  gate.reject(new Error('boom'));
  for (const p of first) await assert.rejects(p, /boom/);
  assert.equal(calls, 1);
  assert.equal(sf.has('k'), false);
  assert.equal(await sf.do('k', async () => (calls++, 'ok')), 'ok');
  assert.equal(calls, 2);
});

test('a resolved call is not cached either: a later do() runs the work again', async () => {
  const sf = new SingleFlight<number>();
  let calls = 0;
  await sf.do('k', async () => ++calls);
  assert.equal(await sf.do('k', async () => ++calls), 2);
});

test('a function that throws synchronously rejects the shared promise and is not cached', async () => {
  const sf = new SingleFlight<number>();
  await assert.rejects(
    sf.do('k', () => {
      throw new Error('sync');
    }),
    /sync/,
  );
  assert.equal(sf.has('k'), false);
  assert.equal(await sf.do('k', async () => 7), 7);
});
