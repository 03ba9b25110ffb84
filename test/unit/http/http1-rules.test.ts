/**
 * Issue 7, failure 8 (HTTP parts), on both HTTP/1.1 servers (the plain-HTTP front and the TLS
 * front's): before, a header block over the limit got 400 on the HTTPS port, and `Upgrade: h2c` or a
 * POST with `Upgrade: websocket` went down the upgrade path and was closed with no response.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Generation } from '../../../src/app/generation.ts';
import { selfSignedFixture } from '../../helpers/self-signed.ts';
import { wsEchoUpstream, type WsEcho } from '../../helpers/ws-echo.ts';
import { upstream, type Running } from '../proxy/helpers.ts';
import { buildGeneration, handlerFor, headerOf, rawRequest, serveHttp, serveHttps, type Served } from './harness.ts';

const cert = selfSignedFixture('my-server-http1-rules-', 'a.test');
let up: Running | undefined;
let ws: WsEcho | undefined;
let gen: Generation | undefined;
let plain: Served | undefined;
let secure: Served | undefined;

/** Set up at the first test: the certificate fixture's before() hook has run by then. */
let setup: Promise<{ plain: Served; secure: Served }> | undefined;
const ready = (): Promise<{ plain: Served; secure: Served }> => (setup ??= start());

async function start(): Promise<{ plain: Served; secure: Served }> {
  // Echoes what it got, so a test sees the request was read as plain HTTP, body included.
  up = await upstream((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => res.end(`${req.method} ${req.url} upgrade=${req.headers.upgrade ?? '-'} body=${body}`));
  });
  ws = await wsEchoUpstream();
  gen = await buildGeneration(`
{
	auto_https off
}
http://a.test:8080, https://a.test:8443 {
	tls ${path.join(cert.dir, 'cert.pem')} ${path.join(cert.dir, 'key.pem')}
	reverse_proxy /ws* ${ws.address}
	reverse_proxy 127.0.0.1:${up.port}
}
`);
  const g = gen;
  const handler = handlerFor(() => g);
  plain = await serveHttp(handler, 8080);
  secure = await serveHttps(handler, g, 8443);
  return { plain, secure };
}

after(async () => {
  await plain?.close();
  await secure?.close();
  await gen?.close();
  await up?.close();
  await ws?.close();
});

type Send = (request: string | readonly string[]) => ReturnType<typeof rawRequest>;

async function fronts(): Promise<{ name: string; send: Send }[]> {
  const f = await ready();
  return [
    { name: 'http', send: (request) => rawRequest(f.plain.port, request) },
    { name: 'https', send: (request) => rawRequest(f.secure.port, request, { servername: 'a.test' }) },
  ];
}

test('a request header block over the limit gets 431 on both fronts', async () => {
  // Node's limit is 16 KiB (--max-http-header-size); 20 KiB of one header is over it.
  const request = `GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'x'.repeat(20 * 1024)}\r\n\r\n`;
  for (const { name, send } of await fronts()) {
    const r = await send(request);
    assert.equal(r.status, 431, `${name}: ${r.text.slice(0, 200)}`);
    assert.ok(r.closed, `${name}: the connection closes`);
  }
});

test('a malformed request line still gets 400 on both fronts', async () => {
  for (const { name, send } of await fronts()) {
    const r = await send('GET / HTTP/1.1 extra\r\nHost: a.test\r\n\r\n');
    assert.equal(r.status, 400, `${name}: ${r.text}`);
  }
});

test('Upgrade: h2c is ignored: the request is answered as HTTP/1.1 and the connection stays usable', async () => {
  for (const { name, send } of await fronts()) {
    const r = await send([
      'GET /h2c HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
      'GET /second HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
    ]);
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.match(r.text, /GET \/h2c upgrade=- body=/, `${name}: the upstream got a plain request, Upgrade dropped`);
    assert.match(r.text, /GET \/second upgrade=- body=/, `${name}: a second request on the same connection is answered`);
  }
});

test('a POST with Upgrade: websocket is answered as a plain POST, body included', async () => {
  for (const { name, send } of await fronts()) {
    const r = await send(
      'POST /ws/form HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    );
    // /ws* goes to the WebSocket echo, which answers a plain request with 426: that is an answer.
    assert.equal(r.status, 426, `${name}: ${r.text}`);
  }
  for (const { name, send } of await fronts()) {
    const r = await send('POST /form HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello');
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.match(r.body, /^POST \/form upgrade=- body=hello$/, name);
  }
});

test('a WebSocket GET is still upgraded and proxied on both fronts', async () => {
  for (const { name, send } of await fronts()) {
    const r = await send(
      'GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.equal(r.status, 101, `${name}: ${r.text}`);
    assert.equal(headerOf(r.head, 'upgrade')?.toLowerCase(), 'websocket', name);
  }
});
