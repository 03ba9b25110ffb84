import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { backoffDelay, MAX_TIMER_MS, sleep } from '../../../src/util/backoff.ts';

const top = (): number => 1;
const bottom = (): number => 0;

test('backoff delays double with each attempt until the cap', () => {
  const cases: { attempt: number; want: number }[] = [
    { attempt: 0, want: 100 },
    { attempt: 1, want: 200 },
    { attempt: 2, want: 400 },
    { attempt: 3, want: 800 },
    { attempt: 6, want: 6_400 },
    { attempt: 7, want: 10_000 },
    { attempt: 8, want: 10_000 },
  ];
  for (const { attempt, want } of cases) {
    assert.equal(backoffDelay(attempt, { baseMs: 100, maxMs: 10_000, random: top }), want, `attempt ${attempt}`);
  }
});

test('backoff stays at the cap for huge attempt counts instead of overflowing', () => {
  for (const attempt of [31, 100, 1_000, Number.MAX_SAFE_INTEGER]) {
    const d = backoffDelay(attempt, { baseMs: 30_000, maxMs: 6 * 3600_000, random: top });
    assert.equal(d, 6 * 3600_000, `attempt ${attempt}`);
    assert.ok(Number.isFinite(d));
  }
});

test('backoff is never below 1 ms, so a failure can not turn into a tight loop', () => {
  const cases: { baseMs: number; maxMs: number; random: () => number }[] = [
    { baseMs: 0, maxMs: 0, random: bottom },
    { baseMs: 0, maxMs: 1_000, random: top },
    { baseMs: 0.1, maxMs: 1_000, random: bottom },
    { baseMs: 1, maxMs: 1, random: bottom },
  ];
  for (const c of cases) {
    assert.ok(backoffDelay(0, c) >= 1, JSON.stringify({ ...c, random: c.random() }));
  }
});

test('backoff jitter lies between half and the whole of the exponential delay', () => {
  assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 1e9, random: bottom }), 400);
  assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 1e9, random: () => 0.5 }), 600);
  assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 1e9, random: top }), 800);
  // With the default random source, every draw stays inside the window.
  for (let attempt = 0; attempt < 12; attempt++) {
    const exp = Math.min(60_000, 250 * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(attempt, { baseMs: 250, maxMs: 60_000 });
      assert.ok(d >= Math.floor(exp / 2) && d <= exp, `attempt ${attempt}: ${d} not in [${exp / 2}, ${exp}]`);
    }
  }
});

test('sleep resolves after the delay and leaves no abort listener behind', async () => {
  const ac = new AbortController();
  const started = performance.now();
  await sleep(30, ac.signal);
  // Timers may fire up to a millisecond early.
  assert.ok(performance.now() - started >= 29, `${performance.now() - started} ms`);
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});

test('sleep rejects with the signal reason when aborted while waiting', async () => {
  const ac = new AbortController();
  const reason = new Error('stop now');
  const started = performance.now();
  const p = sleep(60_000, ac.signal);
  setTimeout(() => ac.abort(reason), 10);
  await assert.rejects(p, (err) => err === reason);
  assert.ok(performance.now() - started < 5_000);
});

test('sleep rejects at once when the signal is already aborted', async () => {
  const reason = new Error('already');
  await assert.rejects(sleep(60_000, AbortSignal.abort(reason)), (err) => err === reason);
});

test('sleep longer than the timer limit does not fire at once', async () => {
  const ac = new AbortController();
  let settled = false;
  const p = sleep(MAX_TIMER_MS + 10_000, ac.signal).then(
    () => (settled = true),
    () => undefined,
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled, false);
  ac.abort(new Error('done'));
  await p;
});

/** A wake source like LockWakers: records its listeners so a test can see them removed. */
function wakeSource(): { wake: (listener: () => void) => () => void; fire: () => void; listeners: Set<() => void> } {
  const listeners = new Set<() => void>();
  return {
    listeners,
    wake: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    fire: () => {
      for (const l of [...listeners]) l();
    },
  };
}

test('sleep resolves early when woken, and removes its wake and abort listeners', async () => {
  const ac = new AbortController();
  const w = wakeSource();
  const started = performance.now();
  const p = sleep(60_000, ac.signal, w.wake);
  assert.equal(w.listeners.size, 1);
  setTimeout(w.fire, 10);
  await p;
  assert.ok(performance.now() - started < 5_000);
  assert.equal(w.listeners.size, 0);
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});

test('sleep removes its wake listener when the timer fires or the signal aborts', async () => {
  const w = wakeSource();
  await sleep(5, undefined, w.wake);
  assert.equal(w.listeners.size, 0);
  const ac = new AbortController();
  const p = sleep(60_000, ac.signal, w.wake);
  ac.abort(new Error('stop'));
  await assert.rejects(p, /stop/);
  assert.equal(w.listeners.size, 0);
});

test('a process whose only work left is a sleep waits for it instead of exiting', async () => {
  // An unref'd timer would let a `certs` command waiting for a lock exit mid-wait (code 13).
  const url = new URL('../../../src/util/backoff.ts', import.meta.url).href;
  const node = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url));
  const script = `const { sleep } = await import(${JSON.stringify(url)}); await sleep(100); console.log('woke');`;
  const { stdout } = await promisify(execFile)(node, ['--input-type=module', '-e', script], { timeout: 30_000 });
  assert.equal(stdout.trim(), 'woke');
});
