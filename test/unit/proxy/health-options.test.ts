/**
 * health_port, health_method, health_headers and health_body against real upstreams, with the
 * checker's timer driven by hand and its verdicts awaited on the diagnostics channel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ActiveHealthConfig } from '../../../src/config/types.ts';
import type { IntervalTimers } from '../../../src/proxy/health.ts';
import { closedPort, front, proxyConfig, request, upstream } from './helpers.ts';
import { PROXY_DEFAULTS } from '../../../src/config/defaults.ts';

const E2E = { timeout: 15_000 };

/** Timers whose one interval runs only when tick() is called. */
function manualTimers(): IntervalTimers & { tick(): void } {
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
  };
}

/** The next healthy/unhealthy transition of `address`. */
function nextVerdict(address: string): Promise<{ healthy: boolean; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no health verdict for ${address} within 5 s`)), 5_000);
    const on = (healthy: boolean) => (msg: unknown) => {
      const m = msg as { upstream: string; reason: string };
      if (m.upstream === address) finish(undefined, { healthy, reason: m.reason });
    };
    const onHealthy = on(true);
    const onUnhealthy = on(false);
    const finish = (err?: Error, value?: { healthy: boolean; reason: string }): void => {
      clearTimeout(timer);
      diagnosticsChannel.unsubscribe('my-server:upstream:healthy', onHealthy);
      diagnosticsChannel.unsubscribe('my-server:upstream:unhealthy', onUnhealthy);
      if (err) reject(err);
      else resolve(value!);
    };
    diagnosticsChannel.subscribe('my-server:upstream:healthy', onHealthy);
    diagnosticsChannel.subscribe('my-server:upstream:unhealthy', onUnhealthy);
  });
}

function health(over: Partial<ActiveHealthConfig>): ActiveHealthConfig {
  return { ...PROXY_DEFAULTS.health, ...over };
}

test('health_port, health_method and health_headers shape the check; the upstream port serves traffic', E2E, async () => {
  const app = await upstream((_req, res) => res.end('app'));
  const checks: http.IncomingMessage[] = [];
  let firstCheck!: () => void;
  const checked = new Promise<void>((resolve) => (firstCheck = resolve));
  const checker = await upstream((req, res) => {
    checks.push(req);
    firstCheck();
    res.end();
  });
  const timers = manualTimers();
  const fr = await front(
    proxyConfig([app.port], {
      health: health({ uri: '/ready?full=1', port: checker.port, method: 'HEAD', headers: { 'X-Check': ['a', 'b'], Host: ['health.internal'] } }),
    }),
    { healthTimers: timers },
  );
  try {
    await checked;
    const [check] = checks;
    assert.equal(check?.method, 'HEAD');
    assert.equal(check?.url, '/ready?full=1');
    assert.equal(check?.headers.host, 'health.internal', 'a Host in health_headers is the request Host');
    assert.equal(check?.headers['x-check'], 'a, b', 'every value of a field is sent');
    const res = await request(fr.port);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'app');
  } finally {
    await fr.close();
    await app.close();
    await checker.close();
  }
});

test('health_port alone enables active checks: a closed health port takes the upstream out', E2E, async () => {
  const app = await upstream((_req, res) => res.end('app'));
  const fr = await front(proxyConfig([app.port], { health: health({ port: await closedPort() }) }), { healthTimers: manualTimers() });
  try {
    const verdict = await nextVerdict(`127.0.0.1:${app.port}`);
    assert.equal(verdict.healthy, false);
    assert.equal((await request(fr.port)).status, 503, 'no upstream available');
  } finally {
    await fr.close();
    await app.close();
  }
});

test('health_body: a body that stops matching the regexp marks the upstream down, matching again brings it back', E2E, async () => {
  let state = 'ok';
  const app = await upstream((req, res) => {
    if (req.url === '/health') res.end(`Status: ${state}\n`);
    else res.end('app');
  });
  const timers = manualTimers();
  const fr = await front(proxyConfig([app.port], { health: health({ uri: '/health', body: { source: 'status: ok$', flags: 'im' } }) }), {
    healthTimers: timers,
  });
  const address = `127.0.0.1:${app.port}`;
  try {
    assert.equal((await request(fr.port)).body, 'app');
    state = 'degraded';
    const down = nextVerdict(address);
    timers.tick();
    const verdict = await down;
    assert.equal(verdict.healthy, false);
    assert.match(verdict.reason, /health_body/);
    assert.equal((await request(fr.port)).status, 503);
    state = 'ok';
    const up = nextVerdict(address);
    timers.tick();
    assert.equal((await up).healthy, true);
    assert.equal((await request(fr.port)).body, 'app');
  } finally {
    await fr.close();
    await app.close();
  }
});
