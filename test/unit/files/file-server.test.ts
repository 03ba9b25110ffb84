/**
 * file_server through the real request path (src/http → router → files/). Expected answers follow
 * Caddy 2.6.2, checked by hand on the same tree (ETag format, 308 for a directory without its
 * slash, 404 for a file with one, multipart/byteranges for two ranges, dotfiles served).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { get, serveSites, type Served } from '../routes/serve.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-files-'));
const root = path.join(dir, 'www');
let site: Served;
const CANARY = 'CANARY-outside-root-7f3a';

before(async () => {
  mkdirSync(path.join(root, 'sub/deeper'), { recursive: true });
  mkdirSync(path.join(root, 'noindex'));
  mkdirSync(path.join(root, '.git'));
  writeFileSync(path.join(dir, 'secret.txt'), CANARY);
  writeFileSync(path.join(root, 'a.txt'), 'hello world\n');
  writeFileSync(path.join(root, 'sub/index.html'), '<p>sub</p>');
  writeFileSync(path.join(root, '.env'), 'DOT=1');
  writeFileSync(path.join(root, '.git/config'), 'git');
  writeFileSync(path.join(root, 'app.bak'), 'backup');
  writeFileSync(path.join(root, 'noindex/<b>&"x.txt'), 'weird');
  writeFileSync(path.join(root, 'style.css'), 'body{}'.repeat(100));
  writeFileSync(path.join(root, 'style.css.gz'), gzipSync('body{}'.repeat(100)));
  writeFileSync(path.join(root, '100%.txt'), 'percent');
  symlinkSync(path.join(root, 'a.txt'), path.join(root, 'link.txt'));
  site = await serveSites(
    `
http://site.test:8080 {
	handle /pass/* {
		file_server {
			root ${root}
			pass_thru
		}
		respond "passed {path}"
	}
	file_server browse {
		root ${root}
		hide .git *.bak
		precompressed gzip
	}
}
`,
    8080,
  );
});

after(async () => {
  await site.close();
  rmSync(dir, { recursive: true, force: true });
});

const req = (p: string, headers: Record<string, string> = {}, method = 'GET') => get(site.port, p, { host: 'site.test', ...headers }, method);

test('a file: 200 with Caddy-style ETag, Last-Modified, Content-Type and Accept-Ranges; HEAD has no body', async () => {
  const r = await req('/a.txt');
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'hello world\n');
  const st = statSync(path.join(root, 'a.txt'));
  assert.equal(r.headers.etag, `"${Math.floor(st.mtimeMs / 1000).toString(36)}${st.size.toString(36)}"`);
  assert.equal(r.headers['last-modified'], st.mtime.toUTCString());
  assert.match(String(r.headers['content-type']), /^text\/plain; charset=utf-8$/i);
  assert.equal(r.headers['accept-ranges'], 'bytes');
  const head = await req('/a.txt', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], '12');
});

test('validators: If-None-Match and If-Modified-Since give 304', async () => {
  const first = await req('/a.txt');
  assert.equal((await req('/a.txt', { 'if-none-match': String(first.headers.etag) })).status, 304);
  assert.equal((await req('/a.txt', { 'if-modified-since': String(first.headers['last-modified']) })).status, 304);
  assert.equal((await req('/a.txt', { 'if-none-match': '"other"' })).status, 200);
});

test('ranges: one range 206, two ranges multipart/byteranges, unsatisfiable 416, stale If-Range the whole file', async () => {
  const one = await req('/a.txt', { range: 'bytes=0-4' });
  assert.equal(one.status, 206);
  assert.equal(one.body.toString(), 'hello');
  assert.equal(one.headers['content-range'], 'bytes 0-4/12');
  const two = await req('/a.txt', { range: 'bytes=0-1,6-10' });
  assert.equal(two.status, 206);
  const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(String(two.headers['content-type']));
  assert.ok(m, String(two.headers['content-type']));
  const body = two.body.toString();
  assert.equal(Number(two.headers['content-length']), two.body.length);
  assert.match(body, /Content-Range: bytes 0-1\/12\r\nContent-Type: text\/plain; charset=utf-8\r\n\r\nhe\r\n/);
  assert.match(body, /Content-Range: bytes 6-10\/12\r\nContent-Type: text\/plain; charset=utf-8\r\n\r\nworld\r\n/);
  assert.ok(body.endsWith(`--${m[1]}--\r\n`));
  assert.equal((await req('/a.txt', { range: 'bytes=50-60' })).status, 416);
  const stale = await req('/a.txt', { range: 'bytes=0-1', 'if-range': '"stale"' });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.toString(), 'hello world\n');
});

test('directories: 308 to add the slash (query kept), index file served; a file with a trailing slash is 404', async () => {
  const r = await req('/sub?x=1');
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, '/sub/?x=1');
  const idx = await req('/sub/');
  assert.equal(idx.status, 200);
  assert.equal(idx.body.toString(), '<p>sub</p>');
  assert.equal((await req('/a.txt/')).status, 404);
  assert.equal((await req('/nope')).status, 404);
});

test('hide: .git and *.bak are 404 anywhere; other dotfiles are served (as in Caddy); symlinks are followed', async () => {
  assert.equal((await req('/.git/config')).status, 404);
  assert.equal((await req('/.git/')).status, 404);
  assert.equal((await req('/app.bak')).status, 404);
  assert.equal((await req('/.env')).body.toString(), 'DOT=1');
  assert.equal((await req('/link.txt')).body.toString(), 'hello world\n');
  assert.equal((await req('/100%25.txt')).body.toString(), 'percent');
});

test('browse: names HTML-escaped, hidden names left out; JSON when asked', async () => {
  const html = (await req('/noindex/')).body.toString();
  assert.ok(html.includes('&lt;b&gt;&amp;&quot;x.txt'), html);
  assert.ok(!html.includes('<b>&"x.txt'));
  const top = await req('/', { accept: 'application/json' });
  assert.equal(top.headers['content-type'], 'application/json; charset=utf-8');
  const names = (JSON.parse(top.body.toString()) as { name: string }[]).map((e) => e.name);
  assert.ok(names.includes('sub/') && names.includes('a.txt') && names.includes('.env'), names.join());
  assert.ok(!names.includes('.git/') && !names.includes('app.bak'), 'hidden entries are not listed');
  assert.ok(names.indexOf('sub/') < names.indexOf('a.txt'), 'folders first');
});

test('precompressed: the .gz sidecar for a client that accepts gzip, with Vary; the plain file otherwise', async () => {
  const gz = await req('/style.css', { 'accept-encoding': 'br;q=1, gzip;q=0.5' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers.vary, 'Accept-Encoding');
  assert.match(String(gz.headers['content-type']), /^text\/css/);
  assert.equal(gz.body.length, statSync(path.join(root, 'style.css.gz')).size);
  const plain = await req('/style.css', { 'accept-encoding': 'gzip;q=0' });
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.body.toString(), 'body{}'.repeat(100));
});

test('pass_thru: no file hands the request to the next handler', async () => {
  assert.equal((await req('/pass/none')).body.toString(), 'passed /pass/none');
});

/** The whole reply of a raw HTTP/1.1 request (nothing normalises the target). */
function raw(target: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(site.port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d: string) => (data += d));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on('error', () => undefined);
  });
}

const HOSTILE = [
  '/../secret.txt',
  '/../../secret.txt',
  '/..%2fsecret.txt',
  '/%2e%2e/secret.txt',
  '/%2e%2e%2fsecret.txt',
  '/%2E%2E/secret.txt',
  '/.%2e/secret.txt',
  '/%2e./secret.txt',
  '/sub/../../secret.txt',
  '/sub/%2e%2e/%2e%2e/secret.txt',
  '/sub/..%2f..%2fsecret.txt',
  '/..\\secret.txt',
  '/%5c..%5csecret.txt',
  '/..%5csecret.txt',
  '/%00/../secret.txt',
  '/a.txt%00',
  '/a.txt%00.png',
  '/%252e%252e/secret.txt',
  '/%c0%ae%c0%ae/secret.txt',
  '/%uff0e%uff0e/secret.txt',
  '/....//secret.txt',
  '/..;/secret.txt',
  '//../secret.txt',
  '/.//..//secret.txt',
  '/./../secret.txt',
  `/${'..%2f'.repeat(20)}secret.txt`,
  '/C:/secret.txt',
  '/C:\\..\\secret.txt',
  `/${dir.slice(1)}/secret.txt`,
  `/%2f${dir.slice(1)}/secret.txt`,
  '/noindex/../../secret.txt',
  '/sub/deeper/../../../secret.txt',
  '/.git/../../secret.txt',
  '/link.txt/../../secret.txt',
  'http://site.test/../secret.txt',
];

test(`${HOSTILE.length} hostile paths: none reads the canary outside root; each is 4xx or a redirect inside the site`, async () => {
  assert.ok(HOSTILE.length >= 30);
  for (const target of HOSTILE) {
    const reply = await raw(target);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);
    assert.ok(!reply.includes(CANARY), `${target} leaked the canary`);
    assert.ok(status === 400 || status === 404 || status === 308, `${target} answered ${status}`);
  }
});
