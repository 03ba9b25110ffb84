/** reverse_proxy { trusted_proxies }: X-Forwarded-* appended/kept for a trusted peer, replaced otherwise. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ReverseProxy } from '../../../src/proxy/reverse-proxy.ts';
import { echoUpstream, front, listen, parseEcho, proxyConfig, request } from './helpers.ts';

const E2E = { timeout: 15_000 };
const CLAIMS = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example', host: 'front.test' };

test('a peer in the proxy\'s trusted_proxies has its X-Forwarded-For appended to and its Proto/Host kept', E2E, async () => {
  const up = await echoUpstream('A');
  const trusting = await front(proxyConfig([up.port], { trustedProxies: ['127.0.0.0/8'] }));
  const other = await front(proxyConfig([up.port], { trustedProxies: ['10.0.0.0/8', '192.168.0.0/16'] }));
  const none = await front(proxyConfig([up.port]));
  try {
    const seen = parseEcho(await request(trusting.port, { headers: CLAIMS })).headers;
    assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'https');
    assert.equal(seen['x-forwarded-host'], 'app.example');
    for (const fr of [other, none]) {
      const replaced = parseEcho(await request(fr.port, { headers: CLAIMS })).headers;
      assert.equal(replaced['x-forwarded-for'], '127.0.0.1', 'an untrusted peer cannot claim a client address');
      assert.equal(replaced['x-forwarded-proto'], 'http');
      assert.equal(replaced['x-forwarded-host'], 'front.test');
    }
  } finally {
    await Promise.all([trusting.close(), other.close(), none.close()]);
    await up.close();
  }
});

test('the listener\'s trust (servers trusted_proxies) still counts when the proxy has its own list', E2E, async () => {
  const up = await echoUpstream('A');
  const proxy = new ReverseProxy(proxyConfig([up.port], { trustedProxies: ['10.0.0.0/8'] }));
  const fr = await listen(
    http.createServer((req, res) => {
      void proxy.handle(req, res, { scheme: 'http', remoteAddress: req.socket.remoteAddress ?? '', trustedPeer: true });
    }),
  );
  try {
    const seen = parseEcho(await request(fr.port, { headers: CLAIMS })).headers;
    assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  } finally {
    await fr.close();
    await proxy.close();
    await up.close();
  }
});
