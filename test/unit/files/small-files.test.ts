/**
 * Whole-file answers (serve.ts #sendWhole): a small file's bytes from one buffer, through a cache
 * that a fresh stat validates (so a changed file is never served stale); a larger one streamed
 * from reused buffers (files/file-stream.ts); the headers `send` wrote; `send` still answers
 * requests with validators or ranges.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { SmallFiles } from '../../../src/files/small-files.ts';
import { pipeFile, pooledBuffers } from '../../../src/files/file-stream.ts';
import { responseHooks } from '../../../src/http/response-hooks.ts';
import { get, serveSites, type Served } from '../routes/serve.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-small-'));
let site: Served;
const big = randomBytes(300 * 1024);

before(async () => {
  writeFileSync(path.join(dir, 'one.txt'), 'version-1\n');
  writeFileSync(path.join(dir, 'blob'), 'no extension');
  writeFileSync(path.join(dir, 'big.bin'), big);
  writeFileSync(path.join(dir, 'empty.txt'), '');
  site = await serveSites(`http://site.test:8080 {\n\troot * ${dir}\n\tfile_server\n}\n`, 8080);
});

after(async () => {
  await site.close();
  rmSync(dir, { recursive: true, force: true });
});

const req = (p: string, headers: Record<string, string> = {}, method = 'GET') => get(site.port, p, { host: 'site.test', ...headers }, method);

test('SmallFiles: a hit returns the cached buffer; a changed stat reads again', async () => {
  const file = path.join(dir, 'cache-a.txt');
  writeFileSync(file, 'aaaa');
  const cache = new SmallFiles(1024);
  const s1 = statSync(file);
  const first = await cache.get(file, s1);
  assert.equal(first?.toString(), 'aaaa');
  assert.equal(await cache.get(file, s1), first, 'same stat: the cached buffer, not a new read');
  writeFileSync(file, 'bbbb');
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  const s2 = statSync(file);
  const second = await cache.get(file, s2);
  assert.equal(second?.toString(), 'bbbb');
  assert.equal(cache.heldBytes, 4, 'the old entry is replaced, not kept beside the new one');
});

test('SmallFiles: concurrent first requests for a file share one read; another stat reads on its own', async () => {
  const file = path.join(dir, 'burst.txt');
  writeFileSync(file, 'burst');
  const cache = new SmallFiles(1024);
  const s1 = statSync(file);
  // All asked before any read finishes: one read, so one buffer for all.
  const got = await Promise.all(Array.from({ length: 8 }, () => cache.get(file, s1)));
  assert.equal(got[0]?.toString(), 'burst');
  for (const b of got) assert.equal(b, got[0], 'the same buffer: the read was shared');
  // A request whose stat differs (the file changed) does not take the read in flight.
  const tooBig = path.join(dir, 'too-big-burst.bin');
  writeFileSync(tooBig, randomBytes(2048)); // over the bound: never cached, so each read is its own
  const s2 = statSync(tooBig);
  const [x, y] = await Promise.all([cache.get(tooBig, s2), cache.get(tooBig, s2)]);
  assert.equal(x, y, 'an uncacheable file still shares the read in flight');
  assert.notEqual(await cache.get(tooBig, s2), x, 'and is read again afterwards');
  writeFileSync(file, 'burst, changed');
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  const changed = statSync(file);
  const [old, fresh] = await Promise.all([cache.get(file, s1), cache.get(file, changed)]);
  assert.equal(old, got[0], 'the old stat still matches the cached bytes');
  assert.equal(fresh?.toString(), 'burst, changed', 'the new stat reads the new content');
});

test('SmallFiles: bytes held stay under the bound, least recently used evicted first', async () => {
  const cache = new SmallFiles(250);
  const names = ['e1', 'e2', 'e3'].map((n) => path.join(dir, `${n}.bin`));
  for (const n of names) writeFileSync(n, randomBytes(100));
  const [s1, s2, s3] = names.map((n) => statSync(n));
  const [n1, n2, n3] = names as [string, string, string];
  const b1 = await cache.get(n1, s1!);
  await cache.get(n2, s2!);
  assert.equal(await cache.get(n1, s1!), b1); // e1 now most recent
  await cache.get(n3, s3!); // 300 > 250: e2, the least recent, goes
  assert.equal(cache.heldBytes, 200);
  assert.equal(await cache.get(n1, s1!), b1, 'e1 kept');
  const tooBig = path.join(dir, 'too-big.bin');
  writeFileSync(tooBig, randomBytes(400));
  assert.equal((await cache.get(tooBig, statSync(tooBig)))?.length, 400, 'served even when it cannot be cached');
  assert.ok(cache.heldBytes <= 250);
});

test('SmallFiles: a file whose size differs from its stat gives undefined (the caller streams instead)', async () => {
  const file = path.join(dir, 'grows.txt');
  writeFileSync(file, '12345');
  const before = statSync(file);
  appendFileSync(file, '678');
  assert.equal(await new SmallFiles(1024).get(file, before), undefined);
  rmSync(file);
  assert.equal(await new SmallFiles(1024).get(file, before), undefined, 'vanished');
});

test('a small file rewritten between requests is served new at once, with new validators', async () => {
  const file = path.join(dir, 'one.txt');
  const r1 = await req('/one.txt');
  assert.equal(r1.body.toString(), 'version-1\n');
  assert.equal((await req('/one.txt')).body.toString(), 'version-1\n');
  writeFileSync(file, 'version-2\n'); // same length
  const later = new Date(Date.now() + 10_000);
  utimesSync(file, later, later);
  const r2 = await req('/one.txt');
  assert.equal(r2.body.toString(), 'version-2\n');
  assert.notEqual(r2.headers.etag, r1.headers.etag);
  assert.equal(r2.headers['last-modified'], later.toUTCString());
});

test('small-file answer: the fields send wrote (Accept-Ranges, Last-Modified, ETag, Content-Type, Content-Length); HEAD without body', async () => {
  const st = statSync(path.join(dir, 'blob'));
  const r = await req('/blob');
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'no extension');
  assert.equal(r.headers['accept-ranges'], 'bytes');
  assert.equal(r.headers['last-modified'], st.mtime.toUTCString());
  assert.equal(r.headers.etag, `"${Math.floor(st.mtimeMs / 1000).toString(36)}${st.size.toString(36)}"`);
  assert.equal(r.headers['content-type'], 'application/octet-stream');
  assert.equal(r.headers['content-length'], String(st.size));
  const head = await req('/blob', {}, 'HEAD');
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], String(st.size));
  const empty = await req('/empty.txt');
  assert.equal(empty.status, 200);
  assert.equal(empty.headers['content-length'], '0');
});

test('larger files stream whole; a range on a small file still gets its 206 from send', async () => {
  const r = await req('/big.bin');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(big.length));
  assert.ok(r.body.equals(big));
  const part = await req('/one.txt', { range: 'bytes=0-6' });
  assert.equal(part.status, 206);
  assert.equal(part.body.toString(), 'version');
  assert.match(String(part.headers['content-range']), /^bytes 0-6\/10$/);
});

/** A bare server whose handler is `pipeFile`: the stream's own edges, without the router. */
async function pipeServer(file: string, size: number): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.setHeader('content-length', String(size));
    void pipeFile(res, file, size);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('pipeFile: the whole file over HTTP/1.1 and HTTP/2, its read buffers back in the pool afterwards', async () => {
  const file = path.join(dir, 'big.bin');
  const h1 = await pipeServer(file, big.length);
  try {
    const r = await get(h1.port, '/');
    assert.ok(r.body.equals(big));
    assert.ok(pooledBuffers() > 0, 'buffers returned once written');
  } finally {
    await h1.close();
  }
  const h2 = http2.createServer((_req, res) => {
    res.setHeader('content-length', String(big.length));
    void pipeFile(res, file, big.length);
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  const client = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
  try {
    const body = await new Promise<Buffer>((resolve, reject) => {
      const stream = client.request({ ':path': '/' });
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
    });
    assert.ok(body.equals(big));
  } finally {
    client.close();
    await new Promise<void>((resolve) => h2.close(() => resolve()));
  }
});

test('pipeFile: a vanished file answers 500; one shorter than announced cuts the response', async () => {
  const gone = await pipeServer(path.join(dir, 'no-such-file'), 10);
  try {
    assert.equal((await get(gone.port, '/')).status, 500);
  } finally {
    await gone.close();
  }
  const short = await pipeServer(path.join(dir, 'big.bin'), big.length + 5);
  try {
    await assert.rejects(get(short.port, '/'));
  } finally {
    await short.close();
  }
});

test('a response hook that keeps chunks (as encode does) never sees their buffers reused', async () => {
  // Different bytes in every 256 KiB chunk, so a reused buffer shows as wrong bytes.
  const file = path.join(dir, 'keep.bin');
  const data = randomBytes(1024 * 1024 + 17);
  writeFileSync(file, data);
  const server = http.createServer((_req, res) => {
    const kept: Buffer[] = [];
    responseHooks(res).add((next) => ({
      // Like encode's compressor: the framing changes and chunks are held, then passed on at the end.
      onHead: () => res.removeHeader('content-length'),
      onChunk: (chunk) => {
        kept.push(chunk);
        return true;
      },
      onEnd: (last) => next.end(Buffer.concat(last ? [...kept, last] : kept)),
    }));
    res.setHeader('content-length', String(data.length));
    void pipeFile(res, file, data.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    for (let i = 0; i < 2; i++) assert.ok((await get((server.address() as AddressInfo).port, '/')).body.equals(data));
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('encode gzip over a large file: the whole text, compressed', async () => {
  const lines: string[] = [];
  for (let i = 0; i < 40_000; i++) lines.push(`line ${i} ${'abcdefghij'.repeat(i % 7)}\n`);
  const text = lines.join('');
  const sub = mkdtempSync(path.join(os.tmpdir(), 'ms-encode-'));
  writeFileSync(path.join(sub, 'big.txt'), text);
  const encoded = await serveSites(`http://site.test:8080 {\n\troot * ${sub}\n\tencode gzip\n\tfile_server\n}\n`, 8080);
  try {
    const r = await get(encoded.port, '/big.txt', { host: 'site.test', 'accept-encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(r.body).toString(), text);
  } finally {
    await encoded.close();
    rmSync(sub, { recursive: true, force: true });
  }
});
