import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { selfSignedFixture } from '../../helpers/self-signed.ts';
import { ReverseProxy } from '../../../src/proxy/reverse-proxy.ts';
import { closedPort, echoUpstream, proxyConfig, type Echo, type Running } from './helpers.ts';

/** Loopback tests finish in well under a second; a hang should fail fast, not at the runner's limit. */
const E2E = { timeout: 15_000 };

/** The front's certificate, for the name the clients connect to. */
const selfSigned = selfSignedFixture('my-server-h2-', 'localhost');

/** An HTTP/2-only TLS front server (compatibility API) in front of `ports`. */
async function h2Front(ports: number[], config = proxyConfig(ports)): Promise<{ port: number; close: () => Promise<void> }> {
  const proxy = new ReverseProxy(config);
  const server = http2.createSecureServer({ key: selfSigned.key, cert: selfSigned.cert }, (req, res) => {
    void proxy.handle(req, res, { scheme: 'https', remoteAddress: req.socket.remoteAddress ?? '' });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => sessions.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
    },
  };
}

interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

function h2Request(port: number, headers: http2.OutgoingHttpHeaders, body?: string): Promise<H2Response> {
  const session = http2.connect(`https://localhost:${port}`, { ca: selfSigned.cert });
  return new Promise<H2Response>((resolve, reject) => {
    session.on('error', reject);
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let data = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (c: string) => (data += c));
    stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: data }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  }).finally(() => session.close());
}

test('an HTTP/2 request is proxied to an HTTP/1.1 upstream with :authority as Host', E2E, async () => {
  const up: Running = await echoUpstream('h1');
  const fr = await h2Front([up.port]);
  try {
    const res = await h2Request(fr.port, { ':path': '/h2?q=1', 'x-forwarded-for': '6.6.6.6', accept: 'application/json' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-upstream'], 'h1');
    const echo = JSON.parse(res.body) as Echo;
    assert.equal(echo.url, '/h2?q=1');
    assert.equal(echo.method, 'GET');
    assert.equal(echo.headers.host, `localhost:${fr.port}`);
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers['x-forwarded-host'], `localhost:${fr.port}`);
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.deepEqual(Object.keys(echo.headers).filter((k) => k.startsWith(':')), []);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('an HTTP/2 request body without content-length reaches the HTTP/1.1 upstream chunked', E2E, async () => {
  const up = await echoUpstream('h1');
  const fr = await h2Front([up.port]);
  try {
    const res = await h2Request(fr.port, { ':method': 'POST', ':path': '/upload' }, 'h2 body');
    const echo = JSON.parse(res.body) as Echo;
    assert.equal(echo.body, 'h2 body');
    assert.equal(echo.headers['transfer-encoding'], 'chunked');
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('an HTTP/2 client gets a plain-text 502 when the upstream is unreachable', E2E, async () => {
  const fr = await h2Front([await closedPort()]);
  try {
    const res = await h2Request(fr.port, { ':path': '/' });
    assert.equal(res.status, 502);
    assert.equal(res.body, '502 Bad Gateway: upstream unreachable\n');
  } finally {
    await fr.close();
  }
});

// An HTTP/2 request has no Host field, only :authority; the header policy's Host is the authority
// all the same (its headers are built, with Host, only when a policy reads them). Without Host the
// policy would fall back to random and spread one authority over the four upstreams.
test('lb_policy header Host keeps each HTTP/2 authority on one upstream', E2E, async () => {
  const ups = await Promise.all(['u0', 'u1', 'u2', 'u3'].map((n) => echoUpstream(n)));
  const ports = ups.map((u) => u.port);
  const fr = await h2Front(ports, proxyConfig(ports, { lb: { policy: 'header', header: 'Host' } }));
  try {
    for (const authority of ['a.example', 'b.example', 'c.example']) {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const res = await h2Request(fr.port, { ':path': '/', ':authority': authority });
        assert.equal(res.status, 200);
        seen.add(String(res.headers['x-upstream']));
      }
      assert.equal(seen.size, 1, `${authority} went to ${[...seen].join(', ')}`);
    }
  } finally {
    await Promise.all([fr.close(), ...ups.map((u) => u.close())]);
  }
});
