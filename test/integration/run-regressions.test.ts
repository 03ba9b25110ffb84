/**
 * Regression tests for bugs a review found in `my-server run`, each one end to end: the real CLI as
 * a child process, real upstreams and clients on loopback. Every test names the old behaviour it
 * guards against. Each case starts its own instance (one shared by the read-only proxy cases), so
 * a crash in one cannot make another fail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { startAsk, type AskServer } from '../helpers/ask.ts';
import { collect, runCli, spawnCli, tempProxyfile } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { globalOptions, startServer, type RunningServer, type ServerEnv } from '../helpers/run-server.ts';

const execFileP = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Upstream, ask endpoint and clients

/** RFC 6455 §1.3: the accept key is base64(SHA-1(key + this GUID)). */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** 4 MiB of compressible but not repetitive text, for the encode case. */
const BIG = ((): Buffer => {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 4 * 1024 * 1024; i++) {
    const line = `line ${i} ${createHash('sha256').update(String(i)).digest('hex')}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, 4 * 1024 * 1024);
})();

interface Upstream {
  readonly address: string;
  /** Targets of ordinary requests, in order. */
  readonly hits: string[];
  /** Targets of upgrade requests, in order. */
  readonly upgrades: string[];
  close(): Promise<void>;
}

/**
 * /big answers BIG; any other request its target as text. An upgrade request is completed with a
 * correct 101 and the socket then kept open, silent, until close().
 */
async function startUpstream(): Promise<Upstream> {
  const hits: string[] = [];
  const upgrades: string[] = [];
  const upgraded = new Set<Duplex>();
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': BIG.length }).end(BIG);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream saw ${req.url ?? ''}`);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    upgrades.push(req.url ?? '');
    upgraded.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => upgraded.delete(socket));
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}${WS_GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    hits,
    upgrades,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of upgraded) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The on-demand ask policy: 403 for names whose first label starts with "bad", else 200. */
const askAllows = (domain: string): boolean => !domain.startsWith('bad');

interface RawReply {
  readonly status: number;
  readonly head: string;
  /** Whether the server closed the connection; false when the reply was cut off by the timeout. */
  readonly closed: boolean;
}

/**
 * Writes `text` as is (nothing normalises the target) and reads until the server closes the
 * connection or `timeoutMs` passes. Never rejects; status 0 when nothing came back.
 */
function rawRequest(port: number, text: string, timeoutMs = 3_000, host = '127.0.0.1'): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let data = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const head = data.split('\r\n\r\n', 1)[0] ?? '';
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(text));
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

function headerOf(head: string, name: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(line.indexOf(':') + 1).trim();
}

/** A GET with `Connection: close` (so rawRequest returns when the answer is complete). */
function rawGet(port: number, target: string, host: string, extra = ''): Promise<RawReply> {
  return rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);
}

const UPGRADE_HEADERS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

/** A plain GET; the body as text. Rejects on network errors. */
function get(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, signal: AbortSignal.timeout(5_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

interface Handshake {
  readonly ok: boolean;
  readonly authorized: boolean;
  readonly subjectAltName?: string;
  readonly error?: string;
}

/** One TLS handshake with SNI `servername`; verifies against `ca` when given. Never rejects. */
function handshake(port: number, servername: string, ca?: string, timeoutMs = 15_000): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], ...(ca !== undefined ? { ca } : { rejectUnauthorized: false }) });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, authorized: false, error: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const san = socket.getPeerCertificate().subjectaltname;
      socket.end();
      resolve({
        ok: true,
        authorized: socket.authorized,
        ...(san !== undefined ? { subjectAltName: san } : {}),
        ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}),
      });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, authorized: false, error: err.message });
    });
  });
}

async function curl(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP('curl', ['-sS', ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The local CA's root, once the server has created it. */
async function localRoot(env: ServerEnv): Promise<{ file: string; pem: string }> {
  const file = join(env.storage, 'pki', 'local', 'root.crt');
  await eventually('the local CA root in storage', 15_000, () => access(file).then(() => true));
  return { file, pem: await readFile(file, 'utf8') };
}

/** Whether a new TCP connection to host:port is refused. */
function refuses(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** POST /load of the admin API with a Proxyfile: its status and body. */
function postLoad(server: RunningServer, proxyfile: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.adminUrl}/load`, { method: 'POST', agent: false, headers: { 'content-type': 'text/caddyfile' }, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(proxyfile);
  });
}

function trackExit(server: RunningServer): () => boolean {
  let exited = false;
  void server.exited.then(() => (exited = true));
  return () => exited;
}

function globals(env: ServerEnv, ports: { http: number; https: number }, extra = ''): string {
  return globalOptions(env, { ...ports, loopback: true, gracePeriod: '2s' }, extra);
}

// ---------------------------------------------------------------------------------------------
// Upgrades, matching and encoding on one shared instance (nothing here changes its state)

describe('shared proxy instance: respond /secret* before reverse_proxy, encode gzip, a localhost site', () => {
  let up: Upstream;
  let server: RunningServer;
  let exited: () => boolean;
  let ports: { http: number; https: number; guarded: number; encoded: number };

  before(async () => {
    up = await startUpstream();
    const [httpPort, httpsPort, guarded, encoded] = (await freePorts(4)) as [number, number, number, number];
    ports = { http: httpPort, https: httpsPort, guarded, encoded };
    server = await startServer(
      (env) =>
        globals(env, ports, '\tlocal_certs\n') +
        `http://127.0.0.1:${guarded} {
	respond /secret* 403
	reverse_proxy ${up.address}
}

http://127.0.0.1:${encoded} {
	encode gzip
	reverse_proxy ${up.address}
}

localhost {
	encode gzip
	reverse_proxy ${up.address}
}
`,
    );
    exited = trackExit(server);
  });

  after(async () => {
    await server?.close();
    await up?.close();
  });

  const host = (): string => `127.0.0.1:${ports.guarded}`;
  const alive = (): void => assert.equal(exited(), false, `my-server exited\n${server.stderr()}`);

  // Old: the upgrade skipped respond and was proxied, so the client got the upstream's 101.
  test('respond /secret* 403 answers a WebSocket upgrade for /secret with 403, and the upstream never sees it', { timeout: 30_000 }, async () => {
    const plain = await rawGet(ports.guarded, '/secret', host());
    assert.equal(plain.status, 403, plain.head);
    const upgrade = await rawRequest(ports.guarded, `GET /secret HTTP/1.1\r\nHost: ${host()}\r\n${UPGRADE_HEADERS}\r\n`);
    assert.equal(upgrade.status, 403, upgrade.head);
    assert.equal(upgrade.closed, true, 'the connection is closed after the 403');
    // The same upgrade elsewhere is proxied, so the 403 above came from the respond rule.
    const open = await rawRequest(ports.guarded, `GET /open HTTP/1.1\r\nHost: ${host()}\r\n${UPGRADE_HEADERS}\r\n`, 1_000);
    assert.equal(open.status, 101, open.head);
    assert.deepEqual(up.upgrades, ['/open']);
    assert.equal(up.hits.some((h) => h.includes('secret')), false, `upstream saw ${JSON.stringify(up.hits)}`);
    alive();
  });

  // Old: matching used the raw target, so encoded, doubled-slash and dot-dot forms reached the upstream.
  test('encoded, doubled-slash and dot-dot forms of /secret/x meet the respond rule; an undecodable path is 400', { timeout: 30_000 }, async () => {
    for (const target of ['/%73ecret/x', '//secret/x', '/a/../secret/x', '/SECRET/x']) {
      const res = await rawGet(ports.guarded, target, host());
      assert.equal(res.status, 403, `${target}: ${res.head}`);
    }
    const bad = await rawGet(ports.guarded, '/%zz', host());
    assert.equal(bad.status, 400, bad.head);
    const fine = await rawGet(ports.guarded, '/public/x', host());
    assert.equal(fine.status, 200, fine.head);
    assert.deepEqual(up.hits.filter((h) => !h.startsWith('/big')), ['/public/x'], 'only the allowed request reached the upstream');
    alive();
  });

  // Old: the compressed response stalled (the client waited for the rest of the body forever).
  test('encode gzip delivers a 4 MiB proxied body intact, over HTTP/1.1 and over HTTP/2', { timeout: 60_000 }, async () => {
    const out = join(server.dir, 'big.out');
    const want = createHash('sha256').update(BIG).digest('hex');
    const h1 = await curl(['--http1.1', '--compressed', '--max-time', '10', '-D', '-', '-o', out, `http://127.0.0.1:${ports.encoded}/big`]);
    assert.equal(h1.code, 0, `curl: ${h1.stderr}\n${server.stderr().slice(-3000)}`);
    assert.match(h1.stdout, /^HTTP\/1\.1 200/);
    assert.match(h1.stdout, /^content-encoding: gzip\r?$/im, 'the response was compressed');
    const got1 = await readFile(out);
    assert.equal(got1.length, BIG.length);
    assert.equal(createHash('sha256').update(got1).digest('hex'), want);

    const root = await localRoot(server);
    await eventually('a verified handshake for localhost', 15_000, async () => ((await handshake(ports.https, 'localhost', root.pem)).authorized ? true : undefined), 250);
    const h2 = await curl([
      '--http2', '--compressed', '--max-time', '10', '--cacert', root.file, '--resolve', `localhost:${ports.https}:127.0.0.1`,
      '-D', '-', '-o', out, `https://localhost:${ports.https}/big`,
    ]);
    assert.equal(h2.code, 0, `curl: ${h2.stderr}\n${server.stderr().slice(-3000)}`);
    assert.match(h2.stdout, /^HTTP\/2 200/);
    assert.match(h2.stdout, /^content-encoding: gzip\r?$/im, 'the response was compressed');
    const got2 = await readFile(out);
    assert.equal(got2.length, BIG.length);
    assert.equal(createHash('sha256').update(got2).digest('hex'), want);
    alive();
  });

  // Old: Location was https://localhost:PORT followed by the whole absolute-form target.
  test('an absolute-form target on http_port redirects to the HTTPS site with its path only', { timeout: 30_000 }, async () => {
    const res = await rawGet(ports.http, 'http://other.test/x', 'localhost');
    assert.equal(res.status, 308, res.head);
    const location = headerOf(res.head, 'location') ?? '';
    assert.equal(location, `https://localhost:${ports.https}/x`);
    assert.doesNotMatch(location.slice('https://'.length), /https?:\/\//);
    alive();
  });
});

// ---------------------------------------------------------------------------------------------
// Cases with an instance of their own

// Old: the upgraded socket had no error listener, and answering 404 to a reset client was an
// uncaught ECONNRESET/EPIPE that killed the process.
test('200 upgrade requests for an unknown host, each reset by the client, leave the server serving', { timeout: 60_000 }, async (t) => {
  const [httpPort, httpsPort, site] = (await freePorts(3)) as [number, number, number];
  const server = await startServer((env) => `${globals(env, { http: httpPort, https: httpsPort })}
http://known.test:${site} {
	respond "known"
}
`);
  t.after(() => server.close());
  const exited = trackExit(server);
  const request = `GET /ws HTTP/1.1\r\nHost: unknown.test:${site}\r\n${UPGRADE_HEADERS}\r\n`;
  const resetOne = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = net.connect(site, '127.0.0.1');
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      socket.on('connect', () => {
        socket.write(request);
        socket.resetAndDestroy();
      });
    });
  // 20 at a time: enough overlap to race the server's answer against the resets.
  for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, resetOne));
  await sleep(300);
  assert.equal(exited(), false, `my-server exited\n${server.stderr().slice(-3000)}`);
  const res = await get(`http://127.0.0.1:${site}/`, { host: `known.test:${site}` });
  assert.deepEqual(res, { status: 200, body: 'known' });
  assert.equal(exited(), false);
});

// Old: app.start() failed but the HTTP listener bound before it kept the process alive.
test('a start that fails on a taken admin port exits 1, names the address, and leaves no listener behind', { timeout: 30_000 }, async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const adminPort = (blocker.address() as net.AddressInfo).port;
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const cfg = await tempProxyfile('');
  t.after(() => cfg.remove());
  await writeFile(cfg.file, `{
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	admin 127.0.0.1:${adminPort}
	storage file ${join(cfg.dir, 'data')}
}

http://a.test {
	respond "a"
}
`);
  const started = Date.now();
  const res = await collect(spawnCli(['run', '--config', cfg.file], { env: { MY_SERVER_STORAGE: '' } }), 10_000);
  assert.equal(res.code, 1, `stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  assert.ok(Date.now() - started < 10_000);
  assert.match(res.stderr, new RegExp(`127\\.0\\.0\\.1:${adminPort}`), res.stderr);
  assert.equal(await refuses(httpPort), true, `port ${httpPort} still accepts connections`);
});

// Old: an access log file that could not be opened was found only by the logger, asynchronously,
// after the start had succeeded (and a path under /proc hung Node's recursive mkdir).
test('a start with a site access log that cannot be opened exits 1 naming the file, and binds nothing', { timeout: 30_000 }, async (t) => {
  const [httpPort, httpsPort, site] = (await freePorts(3)) as [number, number, number];
  const cfg = await tempProxyfile('');
  t.after(() => cfg.remove());
  // The Proxyfile itself is a file, so nothing can be created below it.
  const bad = join(cfg.file, 'access.log');
  await writeFile(cfg.file, `{
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	admin off
	storage file ${join(cfg.dir, 'data')}
}

http://127.0.0.1:${site} {
	log {
		output file ${bad}
	}
	respond "a"
}
`);
  const res = await collect(spawnCli(['run', '--config', cfg.file], { env: { MY_SERVER_STORAGE: '' } }), 10_000);
  assert.equal(res.code, 1, `stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  assert.ok(res.stderr.includes(`log output file ${bad}`), res.stderr);
  assert.equal(await refuses(site), true);
});

// Old: the HTTP server did not track upgraded sockets, so close() waited for the WebSocket forever.
test('SIGTERM with a WebSocket open through a plain-HTTP site exits 0 within the grace period', { timeout: 30_000 }, async (t) => {
  const up = await startUpstream();
  t.after(() => up.close());
  const [httpPort, httpsPort, site] = (await freePorts(3)) as [number, number, number];
  const server = await startServer((env) => `${globals(env, { http: httpPort, https: httpsPort })}
http://127.0.0.1:${site} {
	reverse_proxy ${up.address}
}
`);
  t.after(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${site}/chat`);
  t.after(() => ws.close());
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('WebSocket did not open within 5 s')), 5_000);
    ws.addEventListener('open', () => (clearTimeout(timer), resolve()), { once: true });
    ws.addEventListener('error', () => (clearTimeout(timer), reject(new Error('WebSocket did not open'))), { once: true });
  });
  assert.deepEqual(up.upgrades, ['/chat']);
  const started = Date.now();
  server.child.kill('SIGTERM');
  // 8 s: past the 2 s grace period with room, before the 12 s last-resort exit (code 1).
  const status = await server.waitForExit(8_000);
  const took = Date.now() - started;
  assert.deepEqual(status, { code: 0, signal: null }, server.stderr().slice(-3000));
  assert.ok(took < 5_000, `exited after ${took} ms`);
});

// Old: one http.Server was listened on twice, which Node refuses (ERR_SERVER_ALREADY_LISTEN).
test('default_bind with two addresses answers on both', { timeout: 30_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startServer((env) =>
    globals(env, { http: httpPort, https: httpsPort }).replace('default_bind 127.0.0.1', 'default_bind 127.0.0.1 127.0.0.2') +
    `http:// {
	respond "bound"
}
`);
  t.after(() => server.close());
  for (const address of ['127.0.0.1', '127.0.0.2']) {
    const res = await get(`http://${address}:${httpPort}/`);
    assert.deepEqual(res, { status: 200, body: 'bound' }, address);
  }
  // Only the named addresses: another loopback address is not bound.
  assert.equal(await refuses(httpPort, '127.0.0.3'), true);
});

describe('on-demand with the local CA behind an ask endpoint', () => {
  let ask: AskServer;
  let server: RunningServer;
  let httpsPort: number;

  before(async () => {
    ask = await startAsk(askAllows);
    const [httpPort, hp] = (await freePorts(2)) as [number, number];
    httpsPort = hp;
    server = await startServer((env) => `${globals(env, { http: httpPort, https: httpsPort }, `\tlocal_certs\n\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n`)}
https:// {
	tls {
		on_demand
	}
	respond "od"
}
`);
  });

  after(async () => {
    await server?.close();
    await ask?.close();
  });

  test('an allowed name gets a certificate from the local CA at its first handshake', { timeout: 30_000 }, async () => {
    const first = await handshake(httpsPort, 'good.od.test');
    assert.equal(first.ok, true, `${first.error}\n${server.stderr().slice(-3000)}`);
    assert.deepEqual(ask.asked.filter((d) => d === 'good.od.test'), ['good.od.test']);
    const root = await localRoot(server);
    const verified = await handshake(httpsPort, 'good.od.test', root.pem);
    assert.equal(verified.authorized, true, verified.error);
    assert.match(verified.subjectAltName ?? '', /DNS:good\.od\.test/);
  });

  // Old: every handshake for a refused name asked again (a cheap way to flood the ask endpoint).
  test('five handshakes in a row for a refused name ask the endpoint once', { timeout: 30_000 }, async () => {
    for (let i = 0; i < 5; i++) {
      const res = await handshake(httpsPort, 'bad.od.test');
      assert.equal(res.ok, false, `handshake ${i + 1} succeeded`);
    }
    assert.equal(ask.asked.filter((d) => d === 'bad.od.test').length, 1, `asked: ${JSON.stringify(ask.asked)}`);
  });

  // Old: the literal name was asked about (and would have been issued for if allowed).
  test('an SNI with a literal asterisk fails the handshake without asking', { timeout: 30_000 }, async () => {
    const before = ask.asked.length;
    const res = await handshake(httpsPort, '*.od.test');
    assert.equal(res.ok, false, 'the handshake failed');
    await sleep(300);
    assert.equal(ask.asked.length, before, `asked: ${JSON.stringify(ask.asked.slice(before))}`);
  });
});

// Old: the on-demand policy was built only from the config at start, so a reload adding it never asked.
test('a reload that adds on_demand_tls and an on-demand site issues for an allowed name after asking', { timeout: 40_000 }, async (t) => {
  const ask = await startAsk(askAllows);
  t.after(() => ask.close());
  const [httpPort, httpsPort, site] = (await freePorts(3)) as [number, number, number];
  const server = await startServer((env) => `${globals(env, { http: httpPort, https: httpsPort }, '\tlocal_certs\n')}
http://127.0.0.1:${site} {
	respond "v1"
}
`);
  t.after(() => server.close());
  const next = `${globals(server, { http: httpPort, https: httpsPort }, `\tlocal_certs\n\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n`)}
http://127.0.0.1:${site} {
	respond "v2"
}

https:// {
	tls {
		on_demand
	}
	respond "od"
}
`;
  const load = await postLoad(server, next);
  assert.equal(load.status, 200, load.body);
  assert.equal((await get(`http://127.0.0.1:${site}/`)).body, 'v2', 'the new config serves');
  const first = await handshake(httpsPort, 'after-reload.od.test');
  assert.equal(first.ok, true, `${first.error}\n${server.stderr().slice(-3000)}`);
  assert.deepEqual(ask.asked, ['after-reload.od.test']);
  const root = await localRoot(server);
  const verified = await handshake(httpsPort, 'after-reload.od.test', root.pem);
  assert.equal(verified.authorized, true, verified.error);
});

/**
 * An HTTP/1.1 GET over a TLS connection to 127.0.0.1 that sends no SNI (an IP address) and, unless
 * `alpn` is given, no ALPN extension: what Java's HttpURLConnection sends to https://10.0.0.5/.
 */
function getWithoutSni(port: number, ca: string, alpn?: string[]): Promise<{ authorized: boolean; san?: string; response: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, ...(alpn ? { ALPNProtocols: alpn } : {}) });
    let response = '';
    let san: string | undefined;
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 15_000);
    socket.once('secureConnect', () => {
      san = socket.getPeerCertificate().subjectaltname;
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    });
    socket.setEncoding('utf8').on('data', (d: string) => (response += d));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ authorized: socket.authorized, ...(san !== undefined ? { san } : {}), response });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({ authorized: false, response, error: err.message });
    });
  });
}

// Old: a client sending neither SNI nor ALPN to an IP-literal site got no certificate at all (the
// certificate for the address was set from the ALPN callback, which such a hello never reaches).
test('an IP-literal site serves clients with no SNI, with or without ALPN', { timeout: 40_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startServer((env) => `${globals(env, { http: httpPort, https: httpsPort })}127.0.0.1 {
	respond "by address"
}
`);
  t.after(() => server.close());
  const root = await localRoot(server);
  await eventually('a verified handshake with ALPN', 15_000, async () => ((await getWithoutSni(httpsPort, root.pem, ['http/1.1'])).authorized ? true : undefined), 250);
  for (const alpn of [undefined, ['http/1.1'], ['h2', 'http/1.1']]) {
    const res = await getWithoutSni(httpsPort, root.pem, alpn);
    assert.equal(res.error, undefined, `ALPN ${JSON.stringify(alpn)}: ${res.error}\n${server.stderr().slice(-2000)}`);
    assert.equal(res.authorized, true, `ALPN ${JSON.stringify(alpn)}`);
    assert.equal(res.san, 'IP Address:127.0.0.1');
    if (alpn?.[0] !== 'h2') {
      assert.match(res.response, /^HTTP\/1\.1 200 /, `ALPN ${JSON.stringify(alpn)}: ${res.response}`);
      assert.match(res.response, /by address$/);
    }
  }
});

// Old: a reload ignored a changed `storage`; certificates kept going to, and coming from, the old one.
test('a reload that changes storage serves certificates from the new storage, under its own local CA', { timeout: 60_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const site = `a.localhost {
	respond "a"
}
`;
  const server = await startServer((env) => `${globals(env, { http: httpPort, https: httpsPort })}${site}`);
  t.after(() => server.close());
  const first = await localRoot(server);
  await eventually('a verified handshake under the first storage\'s root', 15_000, async () => ((await handshake(httpsPort, 'a.localhost', first.pem)).authorized ? true : undefined), 250);

  const second = { ...server, storage: join(server.dir, 'data2') };
  const load = await postLoad(server, `${globals(second, { http: httpPort, https: httpsPort })}${site}`);
  assert.equal(load.status, 200, load.body);
  const next = await localRoot(second);
  assert.notEqual(next.pem, first.pem, 'the new storage has a CA of its own');
  await eventually('a verified handshake under the new storage\'s root', 15_000, async () => ((await handshake(httpsPort, 'a.localhost', next.pem)).authorized ? true : undefined), 250);
  assert.equal((await handshake(httpsPort, 'a.localhost', first.pem)).authorized, false, 'no longer the old storage\'s certificate');
  await access(join(second.storage, 'certificates', 'local', 'a.localhost', 'a.localhost.crt'));
  assert.match(server.stdout() + server.stderr(), /storage changed/);

  // And back: the first storage is opened again and its CA and certificate serve again.
  const back = await postLoad(server, `${globals(server, { http: httpPort, https: httpsPort })}${site}`);
  assert.equal(back.status, 200, back.body);
  await eventually('a verified handshake under the first root again', 15_000, async () => ((await handshake(httpsPort, 'a.localhost', first.pem)).authorized ? true : undefined), 250);
});

// Old: a reload left the global log options as they were at start.
test('a reload that changes the global log options writes to the new file at the new level', { timeout: 40_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const site = `a.localhost {
	respond "a"
}
`;
  const logTo = (file: string, level: string): string => `\tlog {\n\t\toutput file ${file}\n\t\tformat json\n\t\tlevel ${level}\n\t}\n`;
  const server = await startServer((env) => `${globals(env, { http: httpPort, https: httpsPort }, logTo(join(env.dir, 'a.log'), 'info'))}${site}`, { env: { MY_SERVER_LOG_LEVEL: '' } });
  t.after(() => server.close());
  const first = join(server.dir, 'a.log');
  const second = join(server.dir, 'b.log');
  await eventually('the first log file has the serving line', 10_000, async () => ((await readFile(first, 'utf8')).includes('"msg":"serving"') ? true : undefined), 100);

  // A log file that cannot be opened rejects the reload, naming the file; the old config serves on.
  const unwritable = '/proc/my-server-no-such-dir/x.log';
  const bad = await postLoad(server, `${globals(server, { http: httpPort, https: httpsPort }, logTo(unwritable, 'debug'))}${site}`);
  assert.notEqual(bad.status, 200);
  assert.match(bad.body, /log output file \/proc\/my-server-no-such-dir\/x\.log/);
  assert.equal((await handshake(httpsPort, 'a.localhost')).ok, true, 'still serving after the rejected reload');

  const load = await postLoad(server, `${globals(server, { http: httpPort, https: httpsPort }, logTo(second, 'debug'))}${site}`);
  assert.equal(load.status, 200, load.body);
  // An unknown name is refused with a debug line: only the new level lets it through.
  await handshake(httpsPort, 'unknown.test');
  const text = await eventually('the debug line in the new file', 10_000, async () => {
    const t2 = await readFile(second, 'utf8').catch(() => '');
    return t2.includes('TLS handshake refused') ? t2 : undefined;
  }, 100);
  assert.match(text, /"level":"debug"/);
  const old = await readFile(first, 'utf8');
  assert.doesNotMatch(old, /TLS handshake refused/, 'nothing went to the old file after the reload');
});

// Old: auto_https off also switched off loading the user's certificate files.
test('auto_https off still serves a certificate given with tls CERT KEY', { timeout: 30_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const files = await tempProxyfile('');
  t.after(() => files.remove());
  const cert = join(files.dir, 'cert.pem');
  const key = join(files.dir, 'key.pem');
  await execFileP('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-days', '2',
    '-subj', '/CN=manual.test', '-addext', 'subjectAltName=DNS:manual.test', '-keyout', key, '-out', cert,
  ]);
  const server = await startServer((env) => `${globals(env, { http: httpPort, https: httpsPort }, '\tauto_https off\n')}
manual.test {
	tls ${cert} ${key}
	respond "manual"
}
`);
  t.after(() => server.close());
  const res = await curl(['--max-time', '10', '--resolve', `manual.test:${httpsPort}:127.0.0.1`, '--cacert', cert, '-w', '\n%{http_code}', `https://manual.test:${httpsPort}/`]);
  assert.equal(res.code, 0, `curl: ${res.stderr}\n${server.stderr().slice(-3000)}`);
  assert.equal(res.stdout, 'manual\n200');
});

// Old: renew obtained a certificate for the typed name only, dropping the others.
test('certs renew keeps every name of the stored certificate', { timeout: 60_000 }, async (t) => {
  const cfg = await tempProxyfile('');
  t.after(() => cfg.remove());
  const storage = join(cfg.dir, 'data');
  await writeFile(cfg.file, `{
	local_certs
	storage file ${storage}
	admin off
}
`);
  const certFile = join(storage, 'certificates', 'local', 'a.localhost', 'a.localhost.crt');
  // The outer environment must not redirect this storage (empty means unset).
  const env = { MY_SERVER_STORAGE: '' };
  const obtained = await runCli(['certs', 'obtain', 'a.localhost', 'b.localhost', '--config', cfg.file], { env, timeoutMs: 30_000 });
  assert.equal(obtained.code, 0, obtained.stderr);
  const before = new X509Certificate(await readFile(certFile));
  assert.equal(before.subjectAltName, 'DNS:a.localhost, DNS:b.localhost');
  const renewed = await runCli(['certs', 'renew', 'a.localhost', '--config', cfg.file], { env, timeoutMs: 30_000 });
  assert.equal(renewed.code, 0, renewed.stderr);
  const after = new X509Certificate(await readFile(certFile));
  assert.notEqual(after.serialNumber, before.serialNumber, 'a new certificate was stored');
  assert.deepEqual(after.subjectAltName?.split(', ').sort(), ['DNS:a.localhost', 'DNS:b.localhost']);
});
