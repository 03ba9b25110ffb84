/** HTTP/2 to upstreams: h2 by ALPN with `versions 2`, h2c with `versions h2c`, trailers relayed to HTTP/1.1 clients. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TransportVersion } from '../../../src/config/types.ts';
import { selfSignedFixture } from '../../helpers/self-signed.ts';
import { front, proxyConfig } from './helpers.ts';

const E2E = { timeout: 15_000 };
const tls = selfSignedFixture('my-server-h2-upstream-', 'upstream.test');

async function listening(server: http2.Http2Server | http2.Http2SecureServer): Promise<{ port: number; close(): Promise<void> }> {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => sessions.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** GET / through `port` over HTTP/1.1: status, body and trailers. */
function get(port: number): Promise<{ status: number; body: string; trailers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, agent: false, headers: { te: 'trailers' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, trailers: res.trailers }));
      })
      .on('error', reject);
  });
}

test('versions 2 speaks h2 to a TLS upstream by ALPN; without it HTTP/1.1, as before', E2E, async () => {
  const up = await listening(
    http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: true }, (req, res) => res.end(`via ${req.httpVersion}`)),
  );
  const transport = (versions?: TransportVersion[]) => ({
    ...proxyConfig([]).transport,
    tls: true,
    tlsInsecureSkipVerify: true,
    ...(versions ? { versions } : {}),
  });
  const base = proxyConfig([up.port]);
  const upstreams = base.upstreams.map((u) => ({ ...u, scheme: 'https' as const }));
  const h2 = await front({ ...base, upstreams, transport: transport(['1.1', '2']) });
  const h1 = await front({ ...base, upstreams, transport: transport() });
  try {
    assert.equal((await get(h2.port)).body, 'via 2.0');
    assert.equal((await get(h1.port)).body, 'via 1.1');
  } finally {
    await Promise.all([h2.close(), h1.close()]);
    await up.close();
  }
});

test('an h2c upstream\'s trailers reach an HTTP/1.1 client in the chunked body', E2E, async () => {
  const up = await listening(
    http2.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`h2c ${req.httpVersion} `);
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end('done');
    }),
  );
  const fr = await front(proxyConfig([up.port], { transport: { ...proxyConfig([]).transport, versions: ['h2c', '2'] } }));
  try {
    const res = await get(fr.port);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'h2c 2.0 done');
    assert.equal(res.trailers['x-checksum'], 'abc123');
  } finally {
    await fr.close();
    await up.close();
  }
});
