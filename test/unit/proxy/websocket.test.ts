import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { closedPort, front, proxyConfig } from './helpers.ts';
import { eventually } from '../../helpers/eventually.ts';
import { wsEchoUpstream } from '../../helpers/ws-echo.ts';

/** Loopback tests finish in well under a second; a hang should fail fast, not at the runner's limit. */
const E2E = { timeout: 15_000 };

test('WebSocket messages echo through the proxy, with X-Forwarded-For set by the proxy', E2E, async () => {
  const up = await wsEchoUpstream({ forwardedFor: true });
  const fr = await front(proxyConfig([up.port]));
  const ws = new WebSocket(`ws://127.0.0.1:${fr.port}/chat`);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error('websocket failed to open')), { once: true });
    });
    const replies: string[] = [];
    const got = new Promise<void>((resolve) => {
      ws.addEventListener('message', (ev: MessageEvent) => {
        replies.push(String(ev.data));
        if (replies.length === 2) resolve();
      });
    });
    ws.send('hello');
    ws.send('x'.repeat(300));
    await got;
    assert.deepEqual(replies, ['127.0.0.1|hello', `127.0.0.1|${'x'.repeat(300)}`]);
    assert.equal(fr.proxy.upstreams[0]?.inFlight(), 1, 'an open WebSocket counts as in flight');
    const closed = new Promise((resolve) => ws.addEventListener('close', resolve, { once: true }));
    ws.close();
    await closed;
    // The proxy releases the upstream when its side of the tunnel closes, a moment after the client's.
    await eventually('the upstream no longer in flight', 2_000, async () => (fr.proxy.upstreams[0]?.inFlight() === 0 ? true : undefined), 10);
  } finally {
    ws.close();
    await Promise.all([fr.close(), up.close()]);
  }
});

test('a WebSocket handshake to an unreachable upstream gets a 502 response', E2E, async () => {
  const port = await closedPort();
  const fr = await front(proxyConfig([port]));
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: fr.port,
        path: '/chat',
        agent: false,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('upgrade', () => reject(new Error('unexpected upgrade')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 502);
  } finally {
    await fr.close();
  }
});
