/**
 * `my-server run` end to end, TLS side: a real Pebble CA validating against the running server, and
 * real clients (curl, openssl s_client, node:tls). One Pebble and one server serve the tests in the
 * "shared" suite: managed a.test and b.test (both obtained before any test runs), on-demand
 * *.od.test behind an ask endpoint; every test there uses its own names, so none depends on what
 * another did. The local CA, renewal and SIGTERM tests start their own servers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAsk, type AskServer } from '../helpers/ask.ts';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';

interface Ran {
  /** null when the process was killed for running too long. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with `input` on stdin (then EOF), killing it after `timeoutMs`. Never rejects. */
function run(cmd: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // s_client exits at EOF on stdin, right after the handshake.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** curl to https://NAME:PORT/PATH with NAME resolved to 127.0.0.1 and `rootFile` as the only trust anchor. */
function curlHttps(name: string, port: number, rootFile: string | undefined, extra: readonly string[] = [], path = '/'): Promise<Ran> {
  return run('curl', [
    '-sS', '--max-time', '15', '--resolve', `${name}:${port}:127.0.0.1`,
    ...(rootFile !== undefined ? ['--cacert', rootFile] : []),
    ...extra, `https://${name}:${port}${path}`,
  ]);
}

/** openssl s_client to 127.0.0.1:PORT; `-showcerts` so a served certificate appears as PEM in stdout. */
function sClient(port: number, args: readonly string[]): Promise<Ran> {
  return run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-showcerts', ...args], { timeoutMs: 15_000 });
}

/**
 * Polls until a verified handshake for `name` succeeds (the server obtains managed certificates in
 * the background); rejects after `timeoutMs` with curl's last error and the server's log.
 */
async function waitForCertificate(server: RunningServer, name: string, port: number, rootFile: string, timeoutMs = 30_000): Promise<void> {
  let last: Ran | undefined;
  await eventually(`a verified handshake for ${name}`, timeoutMs, async () => {
    last = await curlHttps(name, port, rootFile, ['-o', '/dev/null']);
    return last.code === 0 ? true : undefined;
  }, 250).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; curl: ${last?.code} ${last?.stderr}\n--- my-server log ---\n${server.logs()}`);
  });
}

/** The serial (upper-case hex, as openssl prints it) of the leaf served for `name`, or undefined. */
async function servedSerial(port: number, name: string): Promise<string | undefined> {
  const hello = await sClient(port, ['-servername', name]);
  if (hello.code !== 0) return undefined;
  const x509 = await run('openssl', ['x509', '-noout', '-serial'], { input: hello.stdout });
  return /serial=([0-9A-F]+)/.exec(x509.stdout)?.[1];
}

/** Fails a test whose server died (a crash would otherwise show up only as connection errors). */
function assertAlive(server: RunningServer, exited: boolean): void {
  assert.equal(exited, false, `my-server exited during the test\n--- my-server log ---\n${server.logs()}`);
}

function trackExit(server: RunningServer): () => boolean {
  let exited = false;
  void server.exited.then(() => (exited = true));
  return () => exited;
}

/** The on-demand `ask` policy: 200 for names under od.test whose first label does not start with "bad", else 403. */
const askAllows = (domain: string): boolean => domain.endsWith('.od.test') && !domain.startsWith('bad');

function globals(o: { pebble?: Pebble; httpPort: number; httpsPort: number; dir: string; admin: string; ask?: string }): string {
  return `{
${o.pebble ? `	acme_ca ${o.pebble.directoryUrl}\n	acme_ca_root ${o.pebble.caFile}\n	email ops@example.test\n` : ''}	http_port ${o.httpPort}
	https_port ${o.httpsPort}
	default_bind 127.0.0.1
	storage file ${join(o.dir, 'data')}
	admin ${o.admin}
	grace_period 2s
${o.ask ? `	on_demand_tls {\n		ask ${o.ask}\n	}\n` : ''}}
`;
}

/** One TLS handshake with SNI `name`, verifying against `ca`; never rejects. */
function handshake(port: number, name: string, ca: string, timeoutMs: number): Promise<{ ok: boolean; serial?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: name, ca, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, error: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve({ ok: socket.authorized, serial, ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}) });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, error: err.message });
    });
  });
}

describe('shared Pebble and server: managed a.test, b.test and on-demand *.od.test', () => {
  let pebble: Pebble;
  let server: RunningServer;
  let ask: AskServer;
  let rootFile: string;
  let httpPort: number;
  let httpsPort: number;
  let exited: () => boolean;

  before(async () => {
    [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    pebble = await startPebble({ httpPort, tlsPort: httpsPort });
    ask = await startAsk(askAllows);
    server = await startServer({
      proxyfile: ({ dir, admin }) => `${globals({ pebble, httpPort, httpsPort, dir, admin, ask: ask.url })}
a.test {
	respond "a-site"
}

b.test {
	respond "b-site"
}

*.od.test {
	tls {
		on_demand
	}
	respond "od"
}
`,
    });
    exited = trackExit(server);
    rootFile = join(server.dir, 'pebble-root.pem');
    await writeFile(rootFile, await pebble.rootPem());
    // Both managed names first, so no background order runs while a test counts Pebble's orders.
    await Promise.all([waitForCertificate(server, 'a.test', httpsPort, rootFile), waitForCertificate(server, 'b.test', httpsPort, rootFile)]);
  }, { timeout: 90_000 });

  after(async () => {
    await server?.kill();
    await ask?.close();
    await pebble?.stop();
  });

  test('a managed name is served over HTTP/1.1 and HTTP/2 with a chain to Pebble\'s root', { timeout: 60_000 }, async () => {
    const h1 = await curlHttps('a.test', httpsPort, rootFile, ['--http1.1', '-w', '\n%{http_version} %{http_code}']);
    assert.equal(h1.code, 0, h1.stderr);
    assert.equal(h1.stdout, 'a-site\n1.1 200');
    const h2 = await curlHttps('a.test', httpsPort, rootFile, ['--http2', '-w', '\n%{http_version} %{http_code}']);
    assert.equal(h2.code, 0, h2.stderr);
    assert.equal(h2.stdout, 'a-site\n2 200');
    // Trusting another CA (the one behind Pebble's own API), the chain must not verify (curl 60).
    const untrusted = await curlHttps('a.test', httpsPort, pebble.caFile);
    assert.equal(untrusted.code, 60, `curl: ${untrusted.code} ${untrusted.stderr}`);
    assertAlive(server, exited());
  });

  test('an on-demand name gets a certificate at its first handshake, after asking the ask endpoint', { timeout: 60_000 }, async () => {
    const ordersBefore = pebble.countOrders();
    const res = await curlHttps('x.od.test', httpsPort, rootFile, ['-w', '\n%{http_code}']);
    assert.equal(res.code, 0, `${res.stderr}\n--- my-server log ---\n${server.logs()}`);
    assert.equal(res.stdout, 'od\n200');
    assert.ok(ask.asked.includes('x.od.test'), `ask endpoint saw ${JSON.stringify(ask.asked)}`);
    assert.equal(pebble.countOrders() - ordersBefore, 1);
    assert.match(pebble.logs(), /"x\.od\.test"/, 'Pebble validated x.od.test');
    assertAlive(server, exited());
  });

  test('a name the ask endpoint refuses fails the handshake and makes no ACME order', { timeout: 60_000 }, async () => {
    const ordersBefore = pebble.countOrders();
    const res = await curlHttps('bad.od.test', httpsPort, rootFile);
    assert.equal(res.code, 35, `curl: ${res.code} ${res.stderr}`);
    assert.ok(ask.asked.includes('bad.od.test'), `the refusal came from the ask endpoint (asked: ${JSON.stringify(ask.asked)})`);
    // "No order" is the behaviour under test, and an order wrongly started in the background
    // would give no sign of itself: wait as long as one takes to reach Pebble, then count.
    await sleep(500);
    assert.equal(pebble.countOrders(), ordersBefore);
    assert.doesNotMatch(pebble.logs(), /bad\.od\.test/);
    assertAlive(server, exited());
  });

  test('50 concurrent first handshakes for one new on-demand name make exactly one order, and all succeed', { timeout: 60_000 }, async () => {
    const root = await pebble.rootPem();
    const ordersBefore = pebble.countOrders();
    const issuedBefore = pebble.countIssued();
    const results = await Promise.all(Array.from({ length: 50 }, () => handshake(httpsPort, 'many.od.test', root, 25_000)));
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 0, `${failed.length} handshakes failed: ${JSON.stringify(failed.slice(0, 3))}\n--- my-server log ---\n${server.logs().slice(-5000)}`);
    assert.equal(new Set(results.map((r) => r.serial)).size, 1, 'every handshake got the same certificate');
    assert.equal(pebble.countOrders() - ordersBefore, 1);
    assert.equal(pebble.countIssued() - issuedBefore, 1);
    assertAlive(server, exited());
  });

  test('acme-tls/1 with no challenge pending fails the handshake and never gets the ordinary certificate', { timeout: 60_000 }, async () => {
    // The ordinary handshake works, so a failure below is due to the ALPN protocol alone.
    const normal = await sClient(httpsPort, ['-servername', 'a.test', '-alpn', 'http/1.1']);
    assert.equal(normal.code, 0, normal.stderr);
    assert.match(normal.stdout, /BEGIN CERTIFICATE/);
    const acme = await sClient(httpsPort, ['-servername', 'a.test', '-alpn', 'acme-tls/1']);
    assert.notEqual(acme.code, 0, `acme-tls/1 handshake succeeded:\n${acme.stdout}`);
    assert.doesNotMatch(acme.stdout, /BEGIN CERTIFICATE/);
    assert.doesNotMatch(acme.stdout, /New, TLS/, 'no TLS session was established');
    assertAlive(server, exited());
  });

  test('plain HTTP sent to the HTTPS port gets a 400 that says so', { timeout: 60_000 }, async () => {
    const res = await run('curl', ['-sS', '--max-time', '15', '-w', '\n%{http_code}', `http://127.0.0.1:${httpsPort}/`]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'Client sent an HTTP request to an HTTPS server.\n\n400');
    assertAlive(server, exited());
  });

  test('acme-tls/1 with no challenge pending is refused with a TLS alert, as an unknown name is', { timeout: 60_000 }, async () => {
    const acme = await sClient(httpsPort, ['-servername', 'a.test', '-alpn', 'acme-tls/1']);
    assert.notEqual(acme.code, 0);
    assert.match(acme.stderr, /alert/i);
    assertAlive(server, exited());
  });

  test('http_port redirects to HTTPS with 308 and answers unknown challenge tokens with 404', { timeout: 60_000 }, async () => {
    const get = (path: string, host: string): Promise<{ status: number; location: string | undefined }> =>
      new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: httpPort, path, headers: { host }, agent: false }, (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, location: res.headers.location });
          })
          .on('error', reject);
      });
    assert.deepEqual(await get('/path?q', `a.test:${httpPort}`), { status: 308, location: `https://a.test:${httpsPort}/path?q` });
    assert.deepEqual(await get('/x/y?a=1&b=2', 'A.Test'), { status: 308, location: `https://a.test:${httpsPort}/x/y?a=1&b=2` });
    assert.deepEqual(await get('/.well-known/acme-challenge/no-such-token-123', `a.test:${httpPort}`), { status: 404, location: undefined });
    assertAlive(server, exited());
  });

  test('an unknown SNI name or no SNI at all fails the handshake with an unrecognized_name alert', { timeout: 60_000 }, async () => {
    const ordersBefore = pebble.countOrders();
    const unknown = await curlHttps('nope.test', httpsPort, rootFile);
    assert.equal(unknown.code, 35, `curl: ${unknown.code} ${unknown.stderr}`);
    // RFC 6066 §3: the alert for a name the server does not recognise is unrecognized_name (112).
    for (const args of [['-servername', 'nope.test'], ['-servername', 'nope.test', '-alpn', 'h2,http/1.1'], ['-servername', 'nope.test', '-tls1_2'], ['-noservername']]) {
      const res = await sClient(httpsPort, args);
      assert.notEqual(res.code, 0, args.join(' '));
      assert.match(res.stderr, /unrecognized name.*alert number 112/i, `${args.join(' ')}: ${res.stderr}`);
      assert.doesNotMatch(res.stdout, /BEGIN CERTIFICATE/);
    }
    // curl sends no SNI for an IP literal.
    const ip = await run('curl', ['-sS', '--max-time', '15', '-k', `https://127.0.0.1:${httpsPort}/`]);
    assert.equal(ip.code, 35, `curl: ${ip.code} ${ip.stderr}`);
    assert.equal(ask.asked.includes('nope.test'), false, 'a name no site covers is not even asked about');
    assert.equal(pebble.countOrders(), ordersBefore);
    assertAlive(server, exited());
  });

  test('a request whose Host differs from the SNI name gets 421, over HTTP/1.1 and HTTP/2', { timeout: 60_000 }, async () => {
    const same = await curlHttps('a.test', httpsPort, rootFile, ['-w', '\n%{http_code}']);
    assert.equal(same.stdout, 'a-site\n200', same.stderr);
    for (const version of ['--http1.1', '--http2']) {
      const other = await curlHttps('a.test', httpsPort, rootFile, [version, '-H', 'Host: b.test', '-o', '/dev/null', '-w', '%{http_code}']);
      assert.equal(other.code, 0, other.stderr);
      assert.equal(other.stdout, '421', version);
    }
    const b = await curlHttps('b.test', httpsPort, rootFile, ['-w', '\n%{http_code}']);
    assert.equal(b.stdout, 'b-site\n200', b.stderr);
    assertAlive(server, exited());
  });
});

test('localhost is served with the local CA whose root `certs root` prints', { timeout: 60_000 }, async () => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startServer({
    proxyfile: ({ dir, admin }) => `${globals({ httpPort, httpsPort, dir, admin })}
localhost {
	respond "hi"
}
`,
  });
  try {
    const root = await runCli(['certs', 'root', '--config', server.configFile], { timeoutMs: 30_000 });
    assert.equal(root.code, 0, root.stderr);
    assert.match(root.stdout, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n?$/);
    const rootFile = join(server.dir, 'local-root.pem');
    await writeFile(rootFile, root.stdout);
    await waitForCertificate(server, 'localhost', httpsPort, rootFile, 20_000);
    const res = await curlHttps('localhost', httpsPort, rootFile, ['-w', '\n%{http_code}']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'hi\n200');
  } finally {
    await server.kill();
  }
});

test('a short-lived certificate is renewed while serving: the served serial changes without a restart', { timeout: 90_000 }, async () => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  // 30 s lifetime: renewal is due with a third left, 20 s after issuance.
  const pebble = await startPebble({ httpPort, tlsPort: httpsPort, certificateValidityPeriod: 30 });
  let server: RunningServer | undefined;
  try {
    server = await startServer({
      proxyfile: ({ dir, admin }) => `${globals({ pebble, httpPort, httpsPort, dir, admin })}
a.test {
	respond "a-site"
}
`,
    });
    const exited = trackExit(server);
    const rootFile = join(server.dir, 'pebble-root.pem');
    await writeFile(rootFile, await pebble.rootPem());
    await waitForCertificate(server, 'a.test', httpsPort, rootFile);
    const first = await servedSerial(httpsPort, 'a.test');
    assert.ok(first, 'a serial is served');
    // Each poll is an openssl handshake: once a second is enough for a renewal due 20 s in.
    const current = await eventually('a renewed certificate served', 40_000, async () => {
      const serial = await servedSerial(httpsPort, 'a.test');
      return serial !== undefined && serial !== first ? serial : undefined;
    }, 1_000).catch((err: unknown) => {
      throw new Error(`still serving ${first}: ${(err as Error).message}\n--- my-server log ---\n${server?.logs()}`);
    });
    assertAlive(server, exited());
    const res = await curlHttps('a.test', httpsPort, rootFile, ['-w', '\n%{http_code}']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'a-site\n200');
    assert.equal((await pebble.certStatus(current))?.Status, 'Valid');
  } finally {
    await server?.kill();
    await pebble.stop();
  }
});

test('SIGTERM stops the server gracefully: exit code 0 and the listeners are closed', { timeout: 60_000 }, async () => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startServer({
    proxyfile: ({ dir, admin }) => `${globals({ httpPort, httpsPort, dir, admin })}
localhost {
	respond "hi"
}
`,
  });
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  try {
    // A keep-alive connection left open must not hold up the stop beyond the grace period.
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: httpsPort, servername: 'localhost', headers: { host: 'localhost' }, agent, timeout: 20_000 }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    assert.equal(body, 'hi');
    const started = Date.now();
    const status = await server.stop(10_000);
    assert.deepEqual(status, { code: 0, signal: null }, server.logs());
    assert.ok(Date.now() - started < 10_000);
    for (const port of [httpPort, httpsPort]) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(false);
        });
        s.once('error', () => resolve(true));
      });
      assert.equal(refused, true, `port ${port} still accepts connections after the stop`);
    }
  } finally {
    agent.destroy();
    await server.kill();
  }
});
