import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { front, proxyConfig, responseEnding, upstream } from './helpers.ts';

/** Loopback tests finish in well under a second; a hang should fail fast, not at the runner's limit. */
const E2E = { timeout: 15_000 };

test('server-sent events reach the client before the upstream ends the response', E2E, async () => {
  let upstreamRes: http.ServerResponse | undefined;
  const up = await upstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('data: one\n\n');
    upstreamRes = res;
  });
  const fr = await front(proxyConfig([up.port]));
  try {
    const received: string[] = [];
    let endedBeforeFirstEvent: boolean | undefined;
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: fr.port, path: '/events', agent: false }, (res) => {
          assert.equal(res.headers['content-type'], 'text/event-stream');
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            received.push(chunk);
            if (received.length === 1) {
              endedBeforeFirstEvent = upstreamRes?.writableEnded;
              // Only now does the upstream send the rest and finish.
              upstreamRes?.write('data: two\n\n');
              upstreamRes?.end();
            }
          });
          res.on('end', resolve);
          res.on('error', reject);
        })
        .on('error', reject);
    });
    assert.equal(endedBeforeFirstEvent, false);
    assert.equal(received[0], 'data: one\n\n');
    assert.equal(received.join(''), 'data: one\n\ndata: two\n\n');
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('an upstream that dies mid-body cuts the client off instead of ending the body cleanly', E2E, async () => {
  const up = await upstream((_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
    setTimeout(() => res.socket?.destroy(), 50);
  });
  const fr = await front(proxyConfig([up.port]));
  try {
    const outcome = await responseEnding(fr.port);
    assert.notEqual(outcome, 'clean end');
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});
