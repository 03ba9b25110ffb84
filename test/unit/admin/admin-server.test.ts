import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { AdminServer, type AdminApp } from '../../../src/admin/admin-server.ts';
import { Metrics } from '../../../src/metrics/metrics.ts';
import { publish } from '../../../src/diagnostics.ts';
import { ConfigError } from '../../../src/config/errors.ts';
import { MyServerError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { parseExposition, sampleValue } from '../metrics/prom-text.ts';

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

interface RequestOptions {
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Sent one after another with chunked encoding. */
  readonly chunks?: readonly Buffer[];
  readonly agent?: http.Agent;
}

type Target = { readonly port: number } | { readonly socketPath: string };

function request(target: Target, method: string, urlPath: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { ...target, ...('port' in target ? { host: '127.0.0.1' } : {}), method, path: urlPath, headers: o.headers, agent: o.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (o.chunks !== undefined) {
      for (const c of o.chunks) req.write(c);
      req.end();
    } else {
      req.end(o.body);
    }
  });
}

class FakeApp implements AdminApp {
  readonly loads: { text: string; contentType: string }[] = [];
  reloads = 0;
  loadImpl: (text: string) => Promise<void> = () => Promise.resolve();
  reloadImpl: () => Promise<void> = () => Promise.resolve();
  certs: unknown[] = [];

  load(text: string, contentType: string): Promise<void> {
    this.loads.push({ text, contentType });
    return this.loadImpl(text);
  }

  reload(): Promise<void> {
    this.reloads++;
    return this.reloadImpl();
  }

  certificates(): Promise<unknown[]> {
    return Promise.resolve(this.certs);
  }
}

interface Running {
  readonly admin: AdminServer;
  readonly app: FakeApp;
  readonly metrics: Metrics;
  readonly port: number;
}

async function start(t: TestContext, options: { maxBodyBytes?: number } = {}): Promise<Running> {
  const app = new FakeApp();
  const metrics = new Metrics({ processMetrics: false });
  metrics.subscribe();
  const admin = new AdminServer({ address: '127.0.0.1:0', app, metrics, log: silentLogger(), ...options });
  await admin.listen();
  t.after(async () => {
    await admin.close();
    metrics.close();
  });
  const address = admin.address();
  assert.ok(address !== null && typeof address !== 'string');
  return { admin, app, metrics, port: address.port };
}

const proxyfile = 'example.com {\n  reverse_proxy 127.0.0.1:8080\n}\n';
const configError = new ConfigError([
  { file: 'Proxyfile', line: 2, col: 3, message: 'unknown directive "revers_proxy"' },
  { file: 'Proxyfile', line: 5, col: 1, message: 'unclosed brace' },
]);

test('GET /health answers 200 ok', async (t) => {
  const { port } = await start(t);
  const res = await request({ port }, 'GET', '/health');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'ok');
  assert.equal(res.headers['cache-control'], 'no-store');
});

test('POST /load hands the Proxyfile text and media type to the app and answers 200', async (t) => {
  const { port, app } = await start(t);
  const res = await request({ port }, 'POST', '/load', { headers: { 'Content-Type': 'text/caddyfile; charset=utf-8' }, body: proxyfile });
  assert.equal(res.status, 200);
  const res2 = await request({ port }, 'POST', '/load', { headers: { 'Content-Type': 'text/proxyfile' }, body: 'é.example\n' });
  assert.equal(res2.status, 200);
  assert.deepEqual(app.loads, [
    { text: proxyfile, contentType: 'text/caddyfile' },
    { text: 'é.example\n', contentType: 'text/proxyfile' },
  ]);
});

test('POST /load answers 400 with the FILE:LINE:COL lines when the app rejects the config', async (t) => {
  const { port, app } = await start(t);
  app.loadImpl = () => Promise.reject(new MyServerError('MS_ERR_USAGE', 'applying config', { cause: configError }));
  const res = await request({ port }, 'POST', '/load', { headers: { 'Content-Type': 'text/caddyfile' }, body: proxyfile });
  assert.equal(res.status, 400);
  assert.equal(res.body, 'Proxyfile:2:3: unknown directive "revers_proxy"\nProxyfile:5:1: unclosed brace\n');
});

test('POST /load answers 500 with the reason when applying fails for another cause', async (t) => {
  const { port, app } = await start(t);
  app.loadImpl = () => Promise.reject(new Error('listen EADDRINUSE 0.0.0.0:443'));
  const res = await request({ port }, 'POST', '/load', { headers: { 'Content-Type': 'text/caddyfile' }, body: proxyfile });
  assert.equal(res.status, 500);
  assert.equal(res.body, 'loading config: listen EADDRINUSE 0.0.0.0:443\n');
});

test('POST /load refuses other content types with 415 and bad UTF-8 with 400, without calling the app', async (t) => {
  const { port, app } = await start(t);
  const types: Record<string, string>[] = [{ 'Content-Type': 'text/plain' }, { 'Content-Type': 'application/x-www-form-urlencoded' }, {}];
  for (const headers of types) {
    const res = await request({ port }, 'POST', '/load', { headers, body: proxyfile });
    assert.equal(res.status, 415, JSON.stringify(headers));
  }
  const bad = await request({ port }, 'POST', '/load', { headers: { 'Content-Type': 'text/caddyfile' }, body: Buffer.from([0x61, 0xff, 0x62]) });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /UTF-8/);
  assert.equal(app.loads.length, 0);
});

test('POST /load answers 413 for a body over the limit, declared or chunked', async (t) => {
  const { port, app } = await start(t);
  const declared = await request({ port }, 'POST', '/load', {
    headers: { 'Content-Type': 'text/caddyfile' },
    body: Buffer.alloc(1024 * 1024 + 1, 0x20),
  });
  assert.equal(declared.status, 413);
  const chunked = await request({ port }, 'POST', '/load', {
    headers: { 'Content-Type': 'text/caddyfile' },
    chunks: Array.from({ length: 5 }, () => Buffer.alloc(256 * 1024, 0x20)),
  });
  assert.equal(chunked.status, 413);
  const atLimit = await request({ port }, 'POST', '/load', { headers: { 'Content-Type': 'text/caddyfile' }, body: Buffer.alloc(1024 * 1024, 0x20) });
  assert.equal(atLimit.status, 200);
  assert.equal(app.loads.length, 1);
});

test('POST /reload answers 200, 400 with config errors, 500 with other reasons', async (t) => {
  const { port, app } = await start(t);
  assert.equal((await request({ port }, 'POST', '/reload')).status, 200);
  app.reloadImpl = () => Promise.reject(configError);
  const invalid = await request({ port }, 'POST', '/reload');
  assert.equal(invalid.status, 400);
  assert.equal(invalid.body, `${configError.message}\n`);
  app.reloadImpl = () => Promise.reject(new MyServerError('MS_ERR_STORAGE', 'reading config file', { cause: new Error('EACCES') }));
  const failed = await request({ port }, 'POST', '/reload');
  assert.equal(failed.status, 500);
  assert.equal(failed.body, 'reloading config: reading config file: EACCES\n');
  assert.equal(app.reloads, 3);
});

test('GET /certificates answers the app list as JSON, with any PEM private key left out', async (t) => {
  const { port, app } = await start(t);
  app.certs = [
    { names: ['a.example'], notAfter: '2031-01-01T00:00:00.000Z', issuer: 'local', keyPem: '-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n' },
  ];
  const res = await request({ port }, 'GET', '/certificates');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assert.deepEqual(JSON.parse(res.body), [{ names: ['a.example'], notAfter: '2031-01-01T00:00:00.000Z', issuer: 'local' }]);
});

test('GET /metrics answers Prometheus text counting a request, a handshake and an obtained certificate', async (t) => {
  const { port } = await start(t);
  publish('my-server:http:request', { site: 'example.com', method: 'POST', status: 201, durationMs: 12 });
  publish('my-server:tls:handshake', { result: 'ok', protocol: 'TLSv1.3', servername: 'example.com' });
  publish('my-server:cert:obtained', { names: ['example.com'], issuer: 'https://acme.test/dir' });
  const res = await request({ port }, 'GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
  const exp = parseExposition(res.body);
  assert.equal(sampleValue(exp, 'my_server_requests_total', { site: 'example.com', method: 'POST', code: '201' }), 1);
  assert.equal(sampleValue(exp, 'my_server_request_duration_seconds_count', { site: 'example.com' }), 1);
  assert.equal(sampleValue(exp, 'my_server_tls_handshakes_total', { result: 'ok', protocol: 'TLSv1.3' }), 1);
  assert.equal(sampleValue(exp, 'my_server_certificates_obtained_total', { issuer: 'https://acme.test/dir' }), 1);
});

test('unknown paths are 404 and wrong methods 405 with Allow', async (t) => {
  const { port, app } = await start(t);
  assert.equal((await request({ port }, 'GET', '/nope')).status, 404);
  assert.equal((await request({ port }, 'GET', '/health/')).status, 404);
  const table: [string, string, string][] = [
    ['GET', '/load', 'POST'],
    ['PUT', '/reload', 'POST'],
    ['DELETE', '/health', 'GET, HEAD'],
    ['POST', '/metrics', 'GET, HEAD'],
    ['POST', '/certificates', 'GET, HEAD'],
  ];
  for (const [method, urlPath, allow] of table) {
    const res = await request({ port }, method, urlPath);
    assert.equal(res.status, 405, `${method} ${urlPath}`);
    assert.equal(res.headers['allow'], allow, `${method} ${urlPath}`);
  }
  assert.equal(app.reloads, 0);
});

test('a DNS-rebinding Host or a foreign Origin is refused with 403 before the app runs', async (t) => {
  const { port, app } = await start(t);
  const loadHeaders = { 'Content-Type': 'text/caddyfile' };
  const rebinding = await request({ port }, 'POST', '/load', { headers: { ...loadHeaders, Host: `attacker.example:${port}` }, body: proxyfile });
  assert.equal(rebinding.status, 403);
  assert.match(rebinding.body, /host not allowed/);
  const foreign = await request({ port }, 'POST', '/reload', { headers: { Origin: 'http://attacker.example' } });
  assert.equal(foreign.status, 403);
  const otherPort = await request({ port }, 'POST', '/reload', { headers: { Origin: `http://localhost:${port + 1}` } });
  assert.equal(otherPort.status, 403);
  assert.equal((await request({ port }, 'GET', '/metrics', { headers: { Host: 'attacker.example' } })).status, 403);
  assert.equal(app.loads.length, 0);
  assert.equal(app.reloads, 0);

  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
    assert.equal((await request({ port }, 'GET', '/health', { headers: { Host: host } })).status, 200, host);
  }
  const sameOrigin = await request({ port }, 'POST', '/reload', { headers: { Origin: `http://localhost:${port}` } });
  assert.equal(sameOrigin.status, 200);
});

test('listen rejects with MS_ERR_LISTEN when the port is taken', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const { port } = blocker.address() as net.AddressInfo;
  const metrics = new Metrics({ processMetrics: false });
  const admin = new AdminServer({ address: `127.0.0.1:${port}`, app: new FakeApp(), metrics, log: silentLogger() });
  await assert.rejects(admin.listen(), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_LISTEN');
  await admin.close();
});

test('close resolves promptly with an idle keep-alive connection open', async (t) => {
  const { admin, port } = await start(t);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  assert.equal((await request({ port }, 'GET', '/health', { agent })).status, 200);
  const started = Date.now();
  await admin.close();
  assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
  await assert.rejects(request({ port }, 'GET', '/health'), /ECONNREFUSED/);
});

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'my-server-admin-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a Unix socket admin answers, is private to its owner, and is removed on close', async (t) => {
  const socketPath = path.join(await tempDir(t), 'admin.sock');
  const metrics = new Metrics({ processMetrics: false });
  const admin = new AdminServer({ address: `unix/${socketPath}`, app: new FakeApp(), metrics, log: silentLogger() });
  await admin.listen();
  t.after(() => admin.close());
  assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
  const res = await request({ socketPath }, 'GET', '/health', { headers: { Host: 'anything' } });
  assert.equal(res.status, 200);
  await admin.close();
  await assert.rejects(stat(socketPath), { code: 'ENOENT' });
});

test('a stale socket left by a killed process is replaced; a regular file in the way is not', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'admin.sock');
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => void child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  assert.ok((await stat(socketPath)).isSocket(), 'the killed process left its socket behind');

  const metrics = new Metrics({ processMetrics: false });
  const admin = new AdminServer({ address: `unix/${socketPath}`, app: new FakeApp(), metrics, log: silentLogger() });
  await admin.listen();
  t.after(() => admin.close());
  assert.equal((await request({ socketPath }, 'GET', '/health')).status, 200);

  const filePath = path.join(dir, 'not-a-socket');
  await writeFile(filePath, 'precious');
  const other = new AdminServer({ address: `unix/${filePath}`, app: new FakeApp(), metrics, log: silentLogger() });
  t.after(() => other.close());
  await assert.rejects(other.listen(), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_LISTEN');
  assert.ok((await stat(filePath)).isFile(), 'the regular file is still there');
});
