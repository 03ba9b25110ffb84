/**
 * RFC 9112 §3.2 / §3.2.2 at the request path, over raw sockets (issue 7, failure 7): before, a
 * second Host was ignored (200, forwarded as the first) and an absolute-form target reached the
 * upstream unchanged, its authority ignored.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Generation } from '../../../src/app/generation.ts';
import { upstream, type Running } from '../proxy/helpers.ts';
import { buildGeneration, handlerFor, headerOf, rawRequest, serveHttp, type Served } from './harness.ts';

interface Seen {
  readonly url: string;
  readonly host: string;
}

let up: Running;
const seen: Seen[] = [];
let gen: Generation;
let front: Served;

before(async () => {
  up = await upstream((req, res) => {
    seen.push({ url: req.url ?? '', host: req.headers.host ?? '' });
    res.end(`upstream saw ${req.url} for ${req.headers.host}`);
  });
  // WebSocket handshakes: recorded, then switched (no frames are exchanged).
  up.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    seen.push({ url: req.url ?? '', host: req.headers.host ?? '' });
    socket.on('error', () => {});
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  gen = await buildGeneration(`
{
	auto_https off
}
http://a.test:8080 {
	reverse_proxy 127.0.0.1:${up.port}
}
http://b.test:8080 {
	respond "b here"
}
`);
  front = await serveHttp(handlerFor(() => gen), 8080);
});

after(async () => {
  await front.close();
  await gen.close();
  await up.close();
});

const get = (target: string, headers: string): Promise<Awaited<ReturnType<typeof rawRequest>>> =>
  rawRequest(front.port, `GET ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);

test('two Host headers with different values get 400 and the connection closes; nothing reaches the upstream', async () => {
  const before = seen.length;
  const r = await get('/x', 'Host: a.test\r\nHost: b.test\r\n');
  assert.equal(r.status, 400, r.text);
  assert.match(r.body, /more than one Host/);
  assert.equal(headerOf(r.head, 'connection'), 'close');
  assert.ok(r.closed);
  assert.equal(seen.length, before, 'the upstream saw no request');
});

test('the same Host twice is also 400 (RFC 9112 §3.2: more than one Host field line)', async () => {
  const r = await get('/x', 'Host: a.test\r\nhost: a.test\r\n');
  assert.equal(r.status, 400, r.text);
});

test('a Host value that is no authority gets 400', async () => {
  for (const value of ['a.test b.test', 'a.test/x', 'user@a.test', 'a.test\tx']) {
    const r = await get('/x', `Host: ${value}\r\n`);
    assert.equal(r.status, 400, `${JSON.stringify(value)}: ${r.text}`);
  }
  // Ports, IPv6 literals and upper case are authorities.
  for (const value of ['A.Test:8080', 'a.test.']) {
    const r = await get('/x', `Host: ${value}\r\n`);
    assert.equal(r.status, 200, `${JSON.stringify(value)}: ${r.text}`);
  }
});

test('an absolute-form target reaches the upstream in origin-form, with its authority as Host', async () => {
  const r = await get('http://a.test:8080/p/q?x=1', 'Host: b.test\r\n');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body, 'upstream saw /p/q?x=1 for a.test:8080');
  assert.deepEqual(seen.at(-1), { url: '/p/q?x=1', host: 'a.test:8080' });
  const bare = await get('http://A.TEST', 'Host: a.test\r\n');
  assert.equal(bare.status, 200, bare.text);
  assert.equal(seen.at(-1)?.url, '/', 'an empty path becomes /');
  const query = await get('http://a.test?y=2', 'Host: a.test\r\n');
  assert.equal(seen.at(-1)?.url, '/?y=2', query.text);
});

test("an absolute-form target's authority decides the site, whatever Host says", async () => {
  const r = await get('http://b.test/', 'Host: a.test\r\n');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body, 'b here');
});

test('an absolute-form target for a host no site has gets 421, even with a Host header of ours', async () => {
  const before = seen.length;
  const r = await get('http://evil.example/x', 'Host: a.test\r\n');
  assert.equal(r.status, 421, r.text);
  assert.equal(seen.length, before, 'the upstream saw no request');
  // https:// on a plain-HTTP connection names another origin than this listener serves.
  assert.equal((await get('https://a.test/x', 'Host: a.test\r\n')).status, 421);
});

test('absolute-form targets with userinfo, another scheme or no authority get 400', async () => {
  for (const target of ['http://user@a.test/x', 'ftp://a.test/x', 'http:///x', 'a.test/x']) {
    const r = await get(target, 'Host: a.test\r\n');
    assert.equal(r.status, 400, `${target}: ${r.text}`);
  }
});

test('a WebSocket handshake with two Host headers gets 400 before any upstream is asked', async () => {
  const before = seen.length;
  const r = await rawRequest(
    front.port,
    'GET /ws HTTP/1.1\r\nHost: a.test\r\nHost: evil.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  assert.equal(r.status, 400, r.text);
  assert.ok(r.closed);
  assert.equal(seen.length, before);
});

test('an absolute-form WebSocket handshake reaches the upstream in origin-form, with its authority as Host', async () => {
  const r = await rawRequest(
    front.port,
    'GET http://a.test/ws?room=1 HTTP/1.1\r\nHost: b.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  assert.equal(r.status, 101, r.text);
  assert.deepEqual(seen.at(-1), { url: '/ws?room=1', host: 'a.test' });
  const other = await rawRequest(
    front.port,
    'GET http://evil.example/ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  assert.equal(other.status, 421, other.text);
});

test('HTTP/2: a Host header that names another authority than :authority gets 400', async () => {
  // The TLS front would carry this; the rule is the handler's, so an h2c server is enough here.
  const handler = handlerFor(() => gen);
  const server = http2.createServer((req, res) => void handler.handle(req, res, 'http', 8080));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const client = http2.connect(`http://127.0.0.1:${port}`);
  const ask = (headers: http2.OutgoingHttpHeaders): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = client.request({ ':path': '/', ...headers });
      let body = '';
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.end();
    });
  try {
    const conflict = await ask({ ':authority': 'b.test', host: 'a.test' });
    assert.equal(conflict.status, 400, conflict.body);
    assert.match(conflict.body, /differs from :authority/);
    const same = await ask({ ':authority': 'b.test:8080', host: 'B.test:8080' });
    assert.equal(same.status, 200, same.body);
    assert.equal(same.body, 'b here');
  } finally {
    client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
