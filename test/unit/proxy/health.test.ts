import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { HealthChecker, statusMatches, type IntervalTimers } from '../../../src/proxy/health.ts';
import { UpstreamState } from '../../../src/proxy/upstream-state.ts';
import type { UpstreamHealthEvent } from '../../../src/diagnostics.ts';
import { echoUpstream, front, proxyConfig, request, upstream, type Running } from './helpers.ts';

/** Loopback tests finish in well under a second; a hang should fail fast, not at the runner's limit. */
const E2E = { timeout: 15_000 };

const passiveOff = { failDurationMs: 0, maxFails: 1, unhealthyStatus: [] };

function manualTimers(): IntervalTimers & { tick: () => void; active: () => boolean } {
  let fn: (() => void) | undefined;
  return {
    setInterval: (f) => {
      fn = f;
      return 1;
    },
    clearInterval: () => {
      fn = undefined;
    },
    tick: () => fn?.(),
    active: () => fn !== undefined,
  };
}

function record(): { events: [string, UpstreamHealthEvent][]; seen: (kind: string, upstream: string, timeoutMs: number) => Promise<void>; stop: () => void } {
  const events: [string, UpstreamHealthEvent][] = [];
  const watchers = new Set<() => void>();
  const push = (kind: string, m: unknown): void => {
    events.push([kind, m as UpstreamHealthEvent]);
    for (const w of [...watchers]) w();
  };
  const onHealthy = (m: unknown): void => push('healthy', m);
  const onUnhealthy = (m: unknown): void => push('unhealthy', m);
  diagnosticsChannel.subscribe('my-server:upstream:healthy', onHealthy);
  diagnosticsChannel.subscribe('my-server:upstream:unhealthy', onUnhealthy);
  return {
    events,
    /** Resolves once a `kind` event for `upstream` has been published (before or after the call). */
    seen: (kind, upstream, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`no ${kind} event for ${upstream} within ${timeoutMs} ms`));
        }, timeoutMs);
        function check(): void {
          if (!events.some(([k, e]) => k === kind && e.upstream === upstream)) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolve();
        }
        watchers.add(check);
        check();
      }),
    stop: () => {
      diagnosticsChannel.unsubscribe('my-server:upstream:healthy', onHealthy);
      diagnosticsChannel.unsubscribe('my-server:upstream:unhealthy', onUnhealthy);
    },
  };
}

test('statusMatches takes exact codes and classes', () => {
  const table: [number, number | '2xx' | '5xx', boolean][] = [
    [200, 200, true],
    [204, 200, false],
    [204, '2xx', true],
    [299, '2xx', true],
    [301, '2xx', false],
    [503, '5xx', true],
  ];
  for (const [status, match, want] of table) assert.equal(statusMatches(status, match), want, `${status} ~ ${match}`);
});

test('the checker flips verdicts on status, error and timeout, and publishes only transitions', E2E, async () => {
  const up = new UpstreamState({ scheme: 'http', host: '10.9.9.9', port: 80 }, passiveOff);
  const answers: (number | 'error' | 'hang')[] = [200, 500, 500, 'error', 204, 'hang', 200];
  const probe = (_u: UpstreamState, signal: AbortSignal): Promise<number> => {
    const next = answers.shift();
    if (next === 'error') return Promise.reject(new Error('connect ECONNREFUSED'));
    if (next === 'hang') {
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('health check timed out'))));
    }
    return Promise.resolve(next ?? 200);
  };
  const timers = manualTimers();
  const checker = new HealthChecker([up], { uri: '/health', intervalMs: 1000, timeoutMs: 50, status: '2xx' }, { probe, timers });
  const rec = record();
  try {
    const verdicts: boolean[] = [];
    for (let i = 0; i < 7; i++) {
      await checker.checkNow();
      verdicts.push(up.activeHealthy());
    }
    assert.deepEqual(verdicts, [true, false, false, false, true, false, true]);
    const mine = rec.events.filter(([, e]) => e.upstream === '10.9.9.9:80');
    assert.deepEqual(
      mine.map(([kind, e]) => `${kind}: ${e.reason}`),
      ['unhealthy: status 500', 'healthy: status 204', 'unhealthy: health check timed out', 'healthy: status 200'],
    );
  } finally {
    rec.stop();
    checker.stop();
  }
});

test('start() checks at once and on every tick; stop() clears the timer', E2E, async () => {
  const up = new UpstreamState({ scheme: 'http', host: '10.9.9.8', port: 80 }, passiveOff);
  let calls = 0;
  const timers = manualTimers();
  const checker = new HealthChecker([up], { uri: '/', intervalMs: 1000, timeoutMs: 1000, status: 200 }, {
    probe: () => Promise.resolve(++calls === 1 ? 200 : 503),
    timers,
  });
  checker.start();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls, 1);
  timers.tick();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls, 2);
  assert.equal(up.activeHealthy(), false);
  checker.stop();
  assert.equal(timers.active(), false);
});

test('active health checks mark a dead upstream down, then up again when it returns', E2E, async () => {
  const upstreamOn = (p = 0): Promise<Running> => upstream((req, res) => res.end(req.url === '/healthz' ? 'ok' : 'app'), p);
  let up: Running | undefined = await upstreamOn();
  const port = up.port;
  const backup = await echoUpstream('backup');
  const rec = record();
  const fr = await front(
    proxyConfig([port, backup.port], {
      lb: { policy: 'first' },
      health: { uri: '/healthz', intervalMs: 40, timeoutMs: 500, status: '2xx' },
    }),
  );
  const waitFor = (kind: string): Promise<void> => rec.seen(kind, `127.0.0.1:${port}`, 5_000);
  try {
    assert.equal((await request(fr.port)).body, 'app');
    await up.close();
    up = undefined;
    await waitFor('unhealthy');
    assert.equal(fr.proxy.upstreams[0]?.healthy(), false);
    assert.match((await request(fr.port)).body, /"name":"backup"/);
    up = await upstreamOn(port);
    await waitFor('healthy');
    assert.equal((await request(fr.port)).body, 'app');
  } finally {
    rec.stop();
    await Promise.all([fr.close(), up?.close(), backup.close()]);
  }
});
