/**
 * Stopping `my-server run` with connections open, end to end: upgraded sockets are closed at the
 * end of the grace period, so they never hold the process. Draining plain requests and a second
 * SIGTERM are covered by run-proxy.test.ts; listeners closed after a TLS stop by run-tls.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackGlobals } from '../helpers/clients.ts';
import { freePorts } from '../helpers/ports.ts';
import { startRecordingUpstream } from '../helpers/recording-upstream.ts';
import { startServer } from '../helpers/run-server.ts';

// Old: the HTTP server did not track upgraded sockets, so close() waited for the WebSocket forever.
test('SIGTERM with a WebSocket open through a plain-HTTP site exits 0 within the grace period', { timeout: 30_000 }, async (t) => {
  const up = await startRecordingUpstream();
  t.after(() => up.close());
  const [httpPort, httpsPort, site] = (await freePorts(3)) as [number, number, number];
  // 500 ms: the WebSocket stays open, so the stop takes the whole grace period; short keeps it cheap.
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort }).replace('grace_period 2s', 'grace_period 500ms')}
http://127.0.0.1:${site} {
	reverse_proxy ${up.address}
}
`);
  t.after(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${site}/chat`);
  t.after(() => ws.close());
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('WebSocket did not open within 5 s')), 5_000);
    ws.addEventListener('open', () => (clearTimeout(timer), resolve()), { once: true });
    ws.addEventListener('error', () => (clearTimeout(timer), reject(new Error('WebSocket did not open'))), { once: true });
  });
  assert.deepEqual(up.upgrades, ['/chat']);
  const started = Date.now();
  server.child.kill('SIGTERM');
  // 8 s: past the grace period with room, before the last-resort exit (code 1) 10 s after it.
  const status = await server.waitForExit(8_000);
  const took = Date.now() - started;
  assert.deepEqual(status, { code: 0, signal: null }, server.stderr().slice(-3000));
  assert.ok(took < 4_000, `exited after ${took} ms`);
});
