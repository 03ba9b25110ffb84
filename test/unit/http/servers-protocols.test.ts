/**
 * `servers { protocols; timeouts { write }; strict_sni_host }` on the real fronts (HttpFront,
 * TlsFront) and the real RequestHandler, in-process on loopback: h2c by the connection preface,
 * ALPN following `protocols`, h1 refused when left out, the per-request write deadline (Go's
 * WriteTimeout), and the SNI/Host check's three modes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { parseConfig } from '../../../src/config/index.ts';
import type { Generation } from '../../../src/app/generation.ts';
import { serverOptionsFor } from '../../../src/http/client-ip.ts';
import { HttpFront } from '../../../src/http/http-front.ts';
import type { RequestHandler } from '../../../src/http/request-handler.ts';
import { silentLogger, type Logger } from '../../../src/log.ts';
import { TlsFront } from '../../../src/tls/tls-front.ts';
import { connectionLimits, type ConnectionLimits } from '../../../src/util/timeouts.ts';
import { freePort } from '../../helpers/ports.ts';
import { selfSignedFixture } from '../../helpers/self-signed.ts';
import { buildGeneration, handlerFor, rawRequest } from './harness.ts';

const cert = selfSignedFixture('my-server-servers-protocols-', 'a.test');
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

const tlsLine = (): string => `tls ${path.join(cert.dir, 'cert.pem')} ${path.join(cert.dir, 'key.pem')}`;
const GET = (host: string): string => `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

type AnyReq = IncomingMessage | Http2ServerRequest;
type AnyRes = ServerResponse | Http2ServerResponse;

async function generation(proxyfile: string): Promise<Generation> {
  const gen = await buildGeneration(proxyfile);
  closers.push(() => gen.close());
  return gen;
}

function limitsFor(gen: Generation, port: number): ConnectionLimits {
  return connectionLimits(serverOptionsFor(gen.config.globals.servers, port));
}

async function http(onRequest: (req: AnyReq, res: AnyRes) => void, limits?: ConnectionLimits): Promise<{ port: number; front: HttpFront }> {
  const front = new HttpFront({ onRequest, onUpgrade: (_req, socket) => socket.destroy(), log: silentLogger(), ...(limits ? { limits } : {}) });
  const port = await freePort();
  await front.listen(port, ['127.0.0.1']);
  closers.push(() => front.close(0));
  return { port, front };
}

/** A TlsFront whose every name, and every connection without SNI, gets a.test's certificate. */
async function https(handler: RequestHandler, gen: Generation, configPort: number, log: Logger = silentLogger()): Promise<{ port: number; front: TlsFront }> {
  const front = new TlsFront({
    certificates: {
      secureContextFor: () => Promise.resolve(gen.manualFor('a.test')),
      loadedContextFor: () => gen.manualFor('a.test'),
    },
    challenges: { challengeContextFor: () => Promise.resolve(undefined) },
    onRequest: (req, res) => void handler.handle(req, res, 'https', configPort),
    onUpgrade: (req, socket, head) => void handler.upgrade(req, socket, head, 'https', configPort),
    log,
    limits: limitsFor(gen, configPort),
  });
  const port = await freePort();
  await front.listen(port, ['127.0.0.1']);
  closers.push(() => front.close(0));
  return { port, front };
}

/** One HTTP/2 request with prior knowledge (h2c) or over TLS; status and body, or the error. */
async function h2Get(url: string, authority: string, o: tls.ConnectionOptions = {}): Promise<{ status: number; body: string } | { error: string; rstCode?: number }> {
  const client = http2.connect(url, { ...o, rejectUnauthorized: false });
  const failed = new Promise<{ error: string }>((resolve) => client.once('error', (err: Error & { code?: string }) => resolve({ error: err.code ?? err.message })));
  try {
    const req = client.request({ ':path': '/', ':authority': authority });
    const answer = new Promise<{ status: number; body: string } | { error: string; rstCode?: number }>((resolve) => {
      let status = 0;
      let body = '';
      req.setEncoding('utf8');
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve({ status, body }));
      req.on('error', (err: Error & { code?: string }) => resolve({ error: err.code ?? err.message, rstCode: req.rstCode }));
    });
    req.end();
    return await Promise.race([answer, failed]);
  } finally {
    client.destroy();
  }
}

/** The ALPN protocol a TLS handshake that offers `offer` ends with; 'alert' when it fails. */
async function alpnOf(port: number, offer: string[]): Promise<string | false | 'alert'> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ALPNProtocols: offer, rejectUnauthorized: false });
  try {
    await once(socket, 'secureConnect');
    return socket.alpnProtocol ?? false;
  } catch {
    return 'alert';
  } finally {
    socket.destroy();
  }
}

const respondSite = (servers: string): string => `{\n\tauto_https off\n${servers}}\nhttp://a.test:8080 {\n\trespond "{http.request.proto} {host}"\n}\n`;

test('h2c: HTTP/2 with prior knowledge through the routes; HTTP/1.1 (a POST, two requests on one connection) on the same port', async () => {
  const gen = await generation(respondSite('\tservers {\n\t\tprotocols h1 h2 h2c\n\t}\n'));
  const handler = handlerFor(() => gen);
  const { port } = await http((req, res) => void handler.handle(req, res, 'http', 8080), limitsFor(gen, 8080));
  assert.deepEqual(await h2Get(`http://127.0.0.1:${port}`, 'a.test:8080'), { status: 200, body: 'HTTP/2.0 a.test' });
  assert.deepEqual(await h2Get(`http://127.0.0.1:${port}`, 'other.test'), { status: 404, body: 'Not Found: no site for other.test\n' });
  const post = await rawRequest(port, `POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
  assert.equal(post.status, 200, post.text);
  assert.equal(post.body, 'HTTP/1.1 a.test');
  const two = await rawRequest(port, [`GET / HTTP/1.1\r\nHost: a.test\r\n\r\n`, GET('a.test')]);
  assert.equal(two.text.split('HTTP/1.1 200 OK').length - 1, 2, two.text);
  // Pipelined in one packet: both requests are in the bytes read to tell the protocol.
  const socket = net.connect(port, '127.0.0.1');
  socket.write(`GET / HTTP/1.1\r\nHost: a.test\r\n\r\n${GET('a.test')}`);
  let piped = '';
  socket.on('data', (d: Buffer) => (piped += d.toString()));
  await once(socket, 'close');
  assert.equal(piped.split('HTTP/1.1 200 OK').length - 1, 2, piped);
  // A request line that starts like the preface ("P") and arrives in pieces is still HTTP/1.1.
  const split = net.connect(port, '127.0.0.1');
  await once(split, 'connect');
  let answer = '';
  split.on('data', (d: Buffer) => (answer += d.toString()));
  split.write('P');
  await new Promise((resolve) => setTimeout(resolve, 100));
  split.write(`OST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  await once(split, 'close');
  assert.match(answer, /^HTTP\/1\.1 200 OK[\s\S]*HTTP\/1\.1 a\.test$/, answer);
});

test('without h2c (the default) the preface is not HTTP/2: 400 from the HTTP/1.1 parser, and a prior-knowledge client fails', async () => {
  const gen = await generation(respondSite(''));
  const handler = handlerFor(() => gen);
  const { port } = await http((req, res) => void handler.handle(req, res, 'http', 8080), limitsFor(gen, 8080));
  const raw = await rawRequest(port, PREFACE);
  assert.equal(raw.status, 400, raw.text);
  const r = await h2Get(`http://127.0.0.1:${port}`, 'a.test');
  assert.ok('error' in r, `no HTTP/2 answer without h2c: ${JSON.stringify(r)}`);
  const plain = await rawRequest(port, GET('a.test'));
  assert.equal(plain.body, 'HTTP/1.1 a.test');
});

test('protocols h2c without h1: an HTTP/1.1 connection is closed unanswered (current Caddy), HTTP/2 is served', async () => {
  const gen = await generation(respondSite('\tservers {\n\t\tprotocols h2c\n\t}\n'));
  const handler = handlerFor(() => gen);
  const { port } = await http((req, res) => void handler.handle(req, res, 'http', 8080), limitsFor(gen, 8080));
  const r = await rawRequest(port, GET('a.test'));
  assert.equal(r.text, '');
  assert.equal(r.closed, true);
  assert.deepEqual(await h2Get(`http://127.0.0.1:${port}`, 'a.test'), { status: 200, body: 'HTTP/2.0 a.test' });
});

test('a reload (configure) turns h2c on and off on a listener kept open', async () => {
  const onRequest = (req: AnyReq, res: AnyRes): void => void res.end(`v${req.httpVersion}`);
  const { port, front } = await http(onRequest);
  assert.ok('error' in (await h2Get(`http://127.0.0.1:${port}`, 'a.test')));
  front.configure(connectionLimits({ protocols: ['h1', 'h2c'], timeouts: {} }));
  assert.deepEqual(await h2Get(`http://127.0.0.1:${port}`, 'a.test'), { status: 200, body: 'v2.0' });
  assert.equal((await rawRequest(port, GET('a.test'))).body, 'v1.1');
  front.configure(connectionLimits(undefined));
  assert.ok('error' in (await h2Get(`http://127.0.0.1:${port}`, 'a.test')));
});

test('TLS: ALPN offers h2 and http/1.1 by default, http/1.1 only without h2, h2 only without h1 (an HTTP/1.1-only client is refused)', async () => {
  const site = (servers: string): string => `{\n\tauto_https disable_redirects\n${servers}}\na.test:8443 {\n\t${tlsLine()}\n\trespond "{http.request.proto}"\n}\n`;
  const both = await generation(site(''));
  const s1 = await https(handlerFor(() => both), both, 8443);
  assert.equal(await alpnOf(s1.port, ['h2', 'http/1.1']), 'h2');
  assert.equal(await alpnOf(s1.port, ['http/1.1']), 'http/1.1');

  const h1 = await generation(site('\tservers {\n\t\tprotocols h1\n\t}\n'));
  const s2 = await https(handlerFor(() => h1), h1, 8443);
  assert.equal(await alpnOf(s2.port, ['h2', 'http/1.1']), 'http/1.1');
  const over = await rawRequest(s2.port, GET('a.test'), { servername: 'a.test' });
  assert.equal(over.body, 'HTTP/1.1');

  const h2 = await generation(site('\tservers {\n\t\tprotocols h2\n\t}\n'));
  const s3 = await https(handlerFor(() => h2), h2, 8443);
  assert.equal(await alpnOf(s3.port, ['h2', 'http/1.1']), 'h2');
  assert.equal(await alpnOf(s3.port, ['http/1.1']), 'alert');
  const noAlpn = tls.connect({ host: '127.0.0.1', port: s3.port, servername: 'a.test', rejectUnauthorized: false });
  noAlpn.on('error', () => {});
  await once(noAlpn, 'secureConnect');
  noAlpn.write(GET('a.test'));
  let got = '';
  noAlpn.on('data', (d: Buffer) => (got += d.toString()));
  await once(noAlpn, 'close');
  assert.equal(got, '', 'a connection without ALPN is HTTP/1.1: closed unanswered');
  assert.deepEqual(await h2Get(`https://127.0.0.1:${s3.port}`, 'a.test:8443', { servername: 'a.test' }), { status: 200, body: 'HTTP/2.0' });
});

test('protocols h3 is a config warning naming FILE:LINE:COL, so validate prints it and run logs it once', async () => {
  const h3 = await parseConfig(`{\n\tservers {\n\t\tprotocols h1 h2 h3\n\t}\n}\na.test:8443 {\n\t${tlsLine()}\n\trespond "ok"\n}\n`, { filename: 'test' });
  assert.deepEqual(
    (h3.warnings ?? []).map((w) => `${w.line}:${w.col}: ${w.message}`),
    ['3:19: protocols h3: HTTP/3 is not served (Node.js has no QUIC server); HTTP/1.1 and HTTP/2 are'],
  );
  const quiet = await parseConfig(`{\n\tservers {\n\t\tprotocols h1 h2\n\t}\n}\na.test:8443 {\n\t${tlsLine()}\n\trespond "ok"\n}\n`, { filename: 'test' });
  assert.equal(quiet.warnings, undefined, 'no h3, no warning');
});

test('timeouts { write }: a response not written in time has its HTTP/1.1 connection cut; a fast one and no deadline are unaffected', async () => {
  const slow = (ms: number) => (_req: AnyReq, res: AnyRes): void => {
    setTimeout(() => {
      if (!res.destroyed) res.end('late');
    }, ms);
  };
  const limits = connectionLimits({ timeouts: { writeMs: 300 } });
  assert.equal(limits.writeMs, 300);
  const cut = await http(slow(1_500), limits);
  const started = Date.now();
  const r = await rawRequest(cut.port, GET('a.test'), { waitMs: 5_000 });
  const took = Date.now() - started;
  assert.equal(r.text, '', 'nothing is answered');
  assert.equal(r.closed, true);
  assert.ok(took >= 250 && took < 1_400, `cut at the deadline, not when the handler answers (${took} ms)`);

  const fast = await http(slow(20), limits);
  assert.equal((await rawRequest(fast.port, GET('a.test'))).body, 'late');
  const none = await http(slow(600), connectionLimits({ timeouts: { writeMs: 0 } }));
  assert.equal((await rawRequest(none.port, GET('a.test'))).body, 'late');
  const absent = await http(slow(600));
  assert.equal((await rawRequest(absent.port, GET('a.test'))).body, 'late');
});

test('timeouts { write }: a long HTTP/1.1 stream is cut at the deadline; an HTTP/2 stream is reset with INTERNAL_ERROR; configure() changes it', async () => {
  const { port, front } = await http((_req, any) => {
    const res = any as ServerResponse; // the calls used here are the same on Http2ServerResponse
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const tick = setInterval(() => (res.destroyed ? clearInterval(tick) : res.write('data: x\n\n')), 50);
    res.once('close', () => clearInterval(tick));
  }, connectionLimits({ protocols: ['h1', 'h2c'], timeouts: { writeMs: 400 } }));
  const r = await rawRequest(port, GET('a.test'), { waitMs: 5_000 });
  assert.equal(r.status, 200);
  assert.equal(r.closed, true, 'the stream ends with the connection');
  const h2 = await h2Get(`http://127.0.0.1:${port}`, 'a.test');
  assert.ok('error' in h2 && h2.rstCode === http2.constants.NGHTTP2_INTERNAL_ERROR, JSON.stringify(h2));
  // A reload that drops the deadline: the stream keeps going past the old one.
  front.configure(connectionLimits({ timeouts: {} }));
  const socket = net.connect(port, '127.0.0.1');
  socket.write(GET('a.test'));
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString()));
  await new Promise((resolve) => setTimeout(resolve, 800));
  assert.equal(socket.destroyed, false, 'still open after twice the old deadline');
  assert.ok(got.split('data: x').length > 5, got);
  socket.destroy();
});

test('strict_sni_host: by default 421 for another name than the SNI; insecure_off serves it; on also requires SNI (Caddy\'s exact check)', async () => {
  const site = (servers: string): string => `{\n\tauto_https disable_redirects\n${servers}}\na.test:8443, b.test:8443 {\n\t${tlsLine()}\n\trespond "{host}"\n}\n`;
  const noSni = (port: number, host: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      // An IP address as host: Node sends no SNI, as for an IP-literal site.
      const socket = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
      let text = '';
      socket.on('secureConnect', () => socket.write(GET(host)));
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4) }));
    });

  const byDefault = await generation(site(''));
  const d = await https(handlerFor(() => byDefault), byDefault, 8443);
  assert.equal((await rawRequest(d.port, GET('b.test'), { servername: 'a.test' })).status, 421);
  assert.equal((await rawRequest(d.port, GET('a.test'), { servername: 'a.test' })).status, 200);
  assert.deepEqual(await noSni(d.port, 'a.test'), { status: 200, body: 'a.test' });

  const off = await generation(site('\tservers {\n\t\tstrict_sni_host insecure_off\n\t}\n'));
  const o = await https(handlerFor(() => off), off, 8443);
  const fronted = await rawRequest(o.port, GET('b.test'), { servername: 'a.test' });
  assert.equal(fronted.status, 200, fronted.text);
  assert.equal(fronted.body, 'b.test');
  assert.deepEqual(await h2Get(`https://127.0.0.1:${o.port}`, 'b.test', { servername: 'a.test' }), { status: 200, body: 'b.test' });

  const on = await generation(site('\tservers :8443 {\n\t\tstrict_sni_host on\n\t}\n'));
  const s = await https(handlerFor(() => on), on, 8443);
  assert.equal((await rawRequest(s.port, GET('b.test'), { servername: 'a.test' })).status, 421);
  assert.equal((await rawRequest(s.port, GET('A.test:8443'), { servername: 'a.test' })).status, 200, 'case and port do not count');
  assert.equal((await noSni(s.port, 'a.test')).status, 421, 'no SNI cannot match a Host');
});

test('enable_full_duplex changes nothing: an HTTP/1.1 request body keeps flowing to the upstream while its response streams back, with or without it', async () => {
  // Upstream echoes each chunk of the body as it arrives.
  const up = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.flushHeaders();
    req.on('data', (d: Buffer) => res.write(`echo:${d.toString()}`));
    req.on('end', () => res.end('done'));
  });
  await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => up.close(() => resolve())));
  const upPort = (up.address() as net.AddressInfo).port;
  for (const servers of ['', '\tservers {\n\t\tenable_full_duplex\n\t}\n']) {
    const gen = await generation(`{\n\tauto_https off\n${servers}}\nhttp://a.test:8080 {\n\treverse_proxy 127.0.0.1:${upPort}\n}\n`);
    assert.equal(gen.config.globals.servers?.[0]?.enableFullDuplex ?? false, servers !== '');
    const handler = handlerFor(() => gen);
    const { port } = await http((req, res) => void handler.handle(req, res, 'http', 8080));
    const socket = net.connect(port, '127.0.0.1');
    socket.write('POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\nfirst!\r\n');
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    // The first chunk's echo comes back while the request body is still open.
    const until = Date.now() + 5_000;
    while (!got.includes('echo:first!') && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(got.includes('echo:first!'), `the echo of the first chunk before the body ends (${servers ? 'with' : 'without'} enable_full_duplex): ${JSON.stringify(got)}`);
    socket.write('6\r\nsecond\r\n0\r\n\r\n');
    await once(socket, 'close');
    assert.match(got, /echo:first!.*echo:second.*done/s);
  }
});
