import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UpstreamState } from '../../../src/proxy/upstream-state.ts';

const config = { scheme: 'http', host: '127.0.0.1', port: 8080 } as const;

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('a failure counts for fail_duration, then is forgotten', () => {
  const clock = fakeClock();
  const up = new UpstreamState(config, { failDurationMs: 10_000, maxFails: 1, unhealthyStatus: [] }, clock.now);
  assert.equal(up.healthy(), true);
  assert.equal(up.countFailure(), true, 'the failure that crosses max_fails is reported');
  assert.equal(up.healthy(), false);
  assert.equal(up.available(), false);
  clock.advance(9_999);
  assert.equal(up.healthy(), false);
  clock.advance(1);
  assert.equal(up.healthy(), true);
  assert.equal(up.failures(), 0);
});

test('an upstream is unhealthy only once max_fails failures fall inside the window', () => {
  const clock = fakeClock();
  const up = new UpstreamState(config, { failDurationMs: 1_000, maxFails: 3, unhealthyStatus: [] }, clock.now);
  const table: { advance: number; fail: boolean; healthy: boolean; failures: number }[] = [
    { advance: 0, fail: true, healthy: true, failures: 1 }, // t=0
    { advance: 400, fail: true, healthy: true, failures: 2 }, // t=400
    { advance: 700, fail: true, healthy: true, failures: 2 }, // t=1100: the first expired at 1000
    { advance: 100, fail: true, healthy: false, failures: 3 }, // t=1200: 400, 1100, 1200
    { advance: 199, fail: false, healthy: false, failures: 3 }, // t=1399
    { advance: 1, fail: false, healthy: true, failures: 2 }, // t=1400: 400's expired
    { advance: 800, fail: false, healthy: true, failures: 0 }, // t=2200
  ];
  table.forEach((row, i) => {
    clock.advance(row.advance);
    if (row.fail) up.countFailure();
    assert.equal(up.healthy(), row.healthy, `row ${i}: healthy`);
    assert.equal(up.failures(), row.failures, `row ${i}: failures`);
  });
});

test('passive health off (fail_duration 0) never marks an upstream down', () => {
  const up = new UpstreamState(config, { failDurationMs: 0, maxFails: 1, unhealthyStatus: [] }, fakeClock().now);
  for (let i = 0; i < 10; i++) assert.equal(up.countFailure(), false);
  assert.equal(up.healthy(), true);
});

test('a flood of failures keeps memory bounded and still recovers on time', () => {
  const clock = fakeClock();
  const up = new UpstreamState(config, { failDurationMs: 500, maxFails: 2, unhealthyStatus: [] }, clock.now);
  for (let i = 0; i < 10_000; i++) up.countFailure();
  assert.equal(up.failures(), 2);
  clock.advance(500);
  assert.equal(up.healthy(), true);
});

test('the active verdict and passive failures combine; in-flight counts pair acquire and release', () => {
  const up = new UpstreamState(config, { failDurationMs: 0, maxFails: 1, unhealthyStatus: [] });
  assert.equal(up.setActiveHealthy(false), true);
  assert.equal(up.setActiveHealthy(false), false, 'no change, no transition');
  assert.equal(up.healthy(), false);
  up.setActiveHealthy(true);
  assert.equal(up.healthy(), true);
  up.acquire();
  up.acquire();
  up.release();
  assert.equal(up.inFlight(), 1);
  up.release();
  up.release();
  assert.equal(up.inFlight(), 0, 'never negative');
  assert.equal(up.address, '127.0.0.1:8080');
});
