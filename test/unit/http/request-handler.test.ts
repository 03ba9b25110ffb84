/**
 * The request path (src/http/request-handler.ts) in-process: a Generation from Proxyfile text, the
 * real fronts on loopback, real clients. What used to need a spawned `my-server run`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import http2 from 'node:http2';
import path from 'node:path';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import { pino } from 'pino';
import type { Generation } from '../../../src/app/generation.ts';
import { ChallengeStore } from '../../../src/challenges/challenge-store.ts';
import { Http01Solver } from '../../../src/challenges/http-01.ts';
import type { HttpRequestEvent } from '../../../src/diagnostics.ts';
const HTTP_REQUEST_CHANNEL = 'my-server:http:request';
import { selfSignedFixture } from '../../helpers/self-signed.ts';
import { MemoryStorage } from '../challenges/memory-storage.ts';
import { buildGeneration, handlerFor, headerOf, rawRequest, serveHttp, serveHttps, type Served } from './harness.ts';

const cert = selfSignedFixture('my-server-request-handler-', 'a.test');
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

const tlsLine = (): string => `tls ${path.join(cert.dir, 'cert.pem')} ${path.join(cert.dir, 'key.pem')}`;

async function generation(proxyfile: string): Promise<Generation> {
  const gen = await buildGeneration(proxyfile);
  closers.push(() => gen.close());
  return gen;
}

function track(s: Served): Served {
  closers.push(() => s.close());
  return s;
}

const GET = (target: string, host: string, extra = ''): string => `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`;

test('before the first generation is bound, every request gets 503', async () => {
  const s = track(await serveHttp(handlerFor(() => undefined), 8080));
  const r = await rawRequest(s.port, GET('/', 'a.test'));
  assert.equal(r.status, 503, r.text);
});

test('a host no site serves gets 404 naming it; an HTTP/1.0 request without Host says so', async () => {
  const gen = await generation('{\n\tauto_https off\n}\nhttp://a.test:8080 {\n\trespond "a"\n}\n');
  const s = track(await serveHttp(handlerFor(() => gen), 8080));
  const r = await rawRequest(s.port, GET('/', 'other.test'));
  assert.equal(r.status, 404);
  assert.equal(r.body, 'Not Found: no site for other.test\n');
  const none = await rawRequest(s.port, 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(none.status, 404);
  assert.equal(none.body, 'Not Found: no site for (no host)\n');
});

test('routes match the cleaned path: escapes, // and .. cannot step around a path rule', async () => {
  const gen = await generation('{\n\tauto_https off\n}\nhttp://a.test:8080 {\n\trespond /secret* "no" 403\n\trespond "open"\n}\n');
  const s = track(await serveHttp(handlerFor(() => gen), 8080));
  for (const target of ['/secret', '/%73ecret', '//secret', '/x/../secret/y', '/./secret']) {
    const r = await rawRequest(s.port, GET(target, 'a.test'));
    assert.equal(r.status, 403, `${target}: ${r.text}`);
  }
  assert.equal((await rawRequest(s.port, GET('/public', 'a.test'))).body, 'open');
  const bad = await rawRequest(s.port, GET('/%E0%A4%A', 'a.test'));
  assert.equal(bad.status, 400, 'a path that does not decode');
});

test('plain HTTP to an HTTPS site: 308 to the HTTPS port with path and query, absolute-form included', async () => {
  const gen = await generation(`{\n\thttp_port 8080\n\thttps_port 8443\n}\na.test:8443 {\n\t${tlsLine()}\n\trespond "secure"\n}\n`);
  const s = track(await serveHttp(handlerFor(() => gen), 8080));
  const r = await rawRequest(s.port, GET('/p?q=1', 'a.test'));
  assert.equal(r.status, 308, r.text);
  assert.equal(headerOf(r.head, 'location'), 'https://a.test:8443/p?q=1');
  const abs = await rawRequest(s.port, GET('http://a.test/x?y', 'elsewhere.test'));
  assert.equal(abs.status, 308, abs.text);
  assert.equal(headerOf(abs.head, 'location'), 'https://a.test:8443/x?y', 'the absolute-form authority, and only the path, in Location');
  // An absolute-form target for a name we have no site for is misdirected, not redirected.
  assert.equal((await rawRequest(s.port, GET('http://other.test/x', 'a.test'))).status, 421);
});

test('HTTP-01: the current responder answers; a retired one answers only the tokens it knows', async () => {
  const gen = await generation(`{\n\thttp_port 8080\n\thttps_port 8443\n}\na.test:8443 {\n\t${tlsLine()}\n}\n`);
  const current = new Http01Solver({ store: new ChallengeStore({ storage: new MemoryStorage() }) });
  const retired = new Http01Solver({ store: new ChallengeStore({ storage: new MemoryStorage() }) });
  const tokenNew = 'tokenNew_0123456789abcdefghijklmnopqrstuv';
  const tokenOld = 'tokenOld_0123456789abcdefghijklmnopqrstuv';
  await current.present({ type: 'http-01', token: tokenNew, keyAuthorization: `${tokenNew}.new`, identifier: { type: 'dns', value: 'a.test' } });
  await retired.present({ type: 'http-01', token: tokenOld, keyAuthorization: `${tokenOld}.old`, identifier: { type: 'dns', value: 'a.test' } });
  const s = track(await serveHttp(handlerFor(() => gen, { http01: () => [current, retired] }), 8080));
  const ask = (token: string): ReturnType<typeof rawRequest> => rawRequest(s.port, GET(`/.well-known/acme-challenge/${token}`, 'a.test'));
  assert.equal((await ask(tokenNew)).body, `${tokenNew}.new`);
  assert.equal((await ask(tokenOld)).body, `${tokenOld}.old`);
  const unknown = await ask('unknownToken_0123456789abcdefghijklmnop');
  assert.equal(unknown.status, 404, 'an unknown token is answered (404), not redirected');
  // Absolute-form: the target's authority is the host the token is checked against.
  const abs = await rawRequest(s.port, GET(`http://a.test/.well-known/acme-challenge/${tokenNew}`, 'b.test'));
  assert.equal(abs.body, `${tokenNew}.new`);
});

test('HTTPS: a request for another name than the SNI gets 421 over HTTP/1.1 and HTTP/2', async () => {
  const gen = await generation(`{\n\tauto_https disable_redirects\n}\na.test:8443, b.test:8443 {\n\t${tlsLine()}\n\trespond "{host}"\n}\n`);
  const s = track(await serveHttps(handlerFor(() => gen), gen, 8443));
  const same = await rawRequest(s.port, GET('/', 'a.test'), { servername: 'a.test' });
  assert.equal(same.status, 200, same.text);
  assert.equal(same.body, 'a.test');
  const other = await rawRequest(s.port, GET('/', 'b.test'), { servername: 'a.test' });
  assert.equal(other.status, 421, other.text);
  const abs = await rawRequest(s.port, GET('https://b.test/', 'a.test'), { servername: 'a.test' });
  assert.equal(abs.status, 421, 'an absolute-form authority is held to the SNI too');
  const client = http2.connect(`https://127.0.0.1:${s.port}`, { servername: 'a.test', rejectUnauthorized: false });
  try {
    const status = (authority: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = client.request({ ':path': '/', ':authority': authority });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
    assert.equal(await status('a.test:8443'), 200);
    assert.equal(await status('b.test'), 421);
  } finally {
    client.close();
  }
});

test('every request is published for metrics; a site with `log` gets an access-log line with the bytes sent after encoding', async () => {
  const big = 'all work and no play makes jack a dull boy '.repeat(100).trimEnd();
  const gen = await generation(`{\n\tauto_https off\n}\nhttp://a.test:8080 {\n\tlog\n\tencode gzip\n\trespond "${big}"\n}\n`);
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const events: HttpRequestEvent[] = [];
  const onEvent = (e: unknown): void => void events.push(e as HttpRequestEvent);
  diagnosticsChannel.subscribe(HTTP_REQUEST_CHANNEL, onEvent);
  const s = track(await serveHttp(handlerFor(() => gen, { accessLog: pino({ base: null }, sink) }), 8080));
  try {
    const r = await new Promise<{ status: number; encoding?: string; body: Buffer }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: s.port, path: '/x', headers: { host: 'a.test', 'accept-encoding': 'gzip' }, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers['content-encoding'] ? { encoding: res.headers['content-encoding'] } : {}), body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });
    assert.equal(r.status, 200);
    assert.equal(r.encoding, 'gzip');
    assert.equal(zlib.gunzipSync(r.body).toString(), big);
    for (let i = 0; i < 50 && (lines.length === 0 || events.length === 0); i++) await new Promise((res) => setTimeout(res, 20));
    const line = lines.find((l) => l['msg'] === 'handled request');
    assert.ok(line, `an access-log line: ${JSON.stringify(lines)}`);
    assert.equal(line['status'], 200);
    assert.equal(line['size'], r.body.length, 'size counts the compressed bytes that went out');
    assert.deepEqual((line['request'] as Record<string, unknown>)['uri'], '/x');
    assert.ok(events.some((e) => e.site === 'http://a.test:8080' && e.status === 200 && e.method === 'GET'), JSON.stringify(events));
  } finally {
    diagnosticsChannel.unsubscribe(HTTP_REQUEST_CHANNEL, onEvent);
  }
});
