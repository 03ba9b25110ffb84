import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIRST_POLL_MS, MAX_POLL_INTERVAL_MS, MIN_POLL_MS, pollDelay } from '../../../src/acme/poll.ts';

test('without Retry-After the poll wait starts at 50 ms and doubles up to the 1 s cap', () => {
  const waits = Array.from({ length: 8 }, (_, i) => pollDelay(i, undefined));
  assert.deepEqual(waits, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(FIRST_POLL_MS, 50);
  assert.equal(MAX_POLL_INTERVAL_MS, 1000);
  // Far attempts stay at the cap (no Infinity, no NaN).
  assert.equal(pollDelay(10_000, undefined), 1000);
});

test('a smaller or larger cap bounds the doubling', () => {
  assert.deepEqual([0, 1, 2, 3].map((i) => pollDelay(i, undefined, 150)), [50, 100, 150, 150]);
  assert.deepEqual([4, 5, 6, 7].map((i) => pollDelay(i, undefined, 5_000)), [800, 1600, 3200, 5000]);
  // A cap below the floor cannot make a tight loop.
  assert.equal(pollDelay(0, undefined, 0), MIN_POLL_MS);
});

test('a Retry-After from the CA decides the wait, even above the cap, and never below the floor', () => {
  assert.equal(pollDelay(0, 4_000), 4_000, 'never more often than the CA asks');
  assert.equal(pollDelay(7, 30_000), 30_000, 'the cap is for our own backoff only');
  assert.equal(pollDelay(3, 0), MIN_POLL_MS, 'Retry-After: 0 is no tight loop');
  assert.equal(pollDelay(3, -5_000), MIN_POLL_MS, 'a date in the past is no tight loop');
  assert.equal(pollDelay(2, Number.NaN), 200, 'an unparsable value counts as absent');
});
