/**
 * `workers N` with real processes: `my-server run` forks its workers, which bind the same ports
 * with SO_REUSEPORT. Which worker holds a connection is read from the kernel (`ss -tnp`: the pid
 * owning the server side of each established socket), never from the server's own account.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateStore } from '../../src/certs/certificate-store.ts';
import { LocalIssuer } from '../../src/certs/local-issuer.ts';
import { obtainCertificate } from '../../src/certs/obtain.ts';
import { silentLogger } from '../../src/log.ts';
import { createStorage } from '../../src/storage/index.ts';
import { startAsk } from '../helpers/ask.ts';
import { loopbackGlobals, postLoad } from '../helpers/clients.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer, type RunningServer, type ServerEnv } from '../helpers/run-server.ts';
import { listeningPids, logLines, serverPids } from '../helpers/cluster.ts';

const run = promisify(execFile);

/** A kept-alive HTTP/1.1 connection: request() sends a GET on it and resolves with the status line. */
interface Conn {
  readonly socket: net.Socket;
  readonly localPort: number;
  closed: boolean;
  /** Sends a GET and resolves with the status line; `body` is the last response's body. */
  request(host: string): Promise<string>;
  body: string;
}

function connect(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      const conn: Conn = {
        socket,
        localPort: socket.localPort ?? 0,
        closed: false,
        body: '',
        request: (host) =>
          new Promise((res, rej) => {
            let got = '';
            const onData = (d: Buffer): void => {
              got += d.toString('latin1');
              // Every response here is a short `respond` body with Content-Length.
              const end = got.indexOf('\r\n\r\n');
              const m = /\r\ncontent-length: *(\d+)/i.exec(got.slice(0, end));
              if (end >= 0 && m && got.length >= end + 4 + Number(m[1])) {
                socket.off('data', onData);
                conn.body = got.slice(end + 4, end + 4 + Number(m[1]));
                res(got.slice(0, got.indexOf('\r\n')));
              }
            };
            socket.on('data', onData);
            socket.once('close', () => rej(new Error('connection closed')));
            socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
          }),
      };
      socket.on('close', () => (conn.closed = true));
      resolve(conn);
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

function tlsSerial(port: number, servername: string, keep?: tls.TLSSocket[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, timeout: 20_000 }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      if (keep) keep.push(socket);
      else socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error(`TLS handshake for ${servername} timed out`)));
  });
}

function count(text: string, pattern: RegExp): number {
  return text.split('\n').filter((l) => pattern.test(l)).length;
}

async function bothServing(server: RunningServer): Promise<void> {
  await eventually('both workers serving', 30_000, async () => (logLines(server, 'worker serving').length >= 2 ? true : undefined), 50);
}

function workersConfig(ports: { http: number; https: number }, extra = '', body = 'plain') {
  return (env: ServerEnv): string => `${loopbackGlobals(env, ports, `\tworkers 2\n${extra}`)}
http://plain.test:${ports.http} {
	respond "${body}"
}
a.test {
	tls internal
	respond "a"
}
`;
}

test('workers 2: connections reach both; kill -9 of one drops only its connections and a replacement serves within 2 s; SIGTERM stops all', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  const server = await startServer(workersConfig({ http, https }));
  t.after(() => server.close());
  await bothServing(server);
  const primary = server.child.pid;
  assert.ok(primary !== undefined);
  const workerPids = await listeningPids(http);
  assert.equal(workerPids.size, 2, `two workers listening on ${http} (SO_REUSEPORT): ${[...workerPids].join(', ')}`);
  assert.ok(!workerPids.has(primary), 'the primary does not accept connections itself');

  const conns = await Promise.all(Array.from({ length: 24 }, () => connect(http)));
  t.after(() => conns.forEach((c) => c.socket.destroy()));
  for (const c of conns) assert.match(await c.request('plain.test'), /^HTTP\/1\.1 200/);
  const owners = await serverPids(http);
  const byPid = new Map<number, Conn[]>();
  for (const c of conns) {
    const pid = owners.get(c.localPort);
    assert.ok(pid !== undefined && workerPids.has(pid), `connection from :${c.localPort} held by a worker (${pid})`);
    byPid.set(pid, [...(byPid.get(pid) ?? []), c]);
  }
  assert.equal(byPid.size, 2, `24 connections spread over both workers: ${JSON.stringify([...byPid].map(([p, cs]) => [p, cs.length]))}`);

  const [victim, survivor] = [...byPid.keys()] as [number, number];
  const from = server.output().length;
  const killedAt = Date.now();
  process.kill(victim, 'SIGKILL');
  // The victim's connections are gone; the survivor's still answer on the same sockets.
  await eventually('the killed worker\'s connections closed', 5_000, async () => (byPid.get(victim)!.every((c) => c.closed) ? true : undefined), 20);
  t.diagnostic(`victim's connections closed ${Date.now() - killedAt} ms after kill -9`);
  for (const c of byPid.get(survivor)!) {
    assert.equal(c.closed, false);
    const answer = await c.request('plain.test').catch((err: unknown) => `survivor ${c.localPort}: ${String(err)}`);
    // The server's lines since the kill say why if not (once, the primary died of an EPIPE).
    assert.match(answer, /^HTTP\/1\.1 200/, `${answer}\n${server.output().slice(from)}`);
  }
  // No gap: new connections are served at once by the survivor.
  for (let i = 0; i < 5; i++) assert.match(await (await connect(http)).request('plain.test').catch((err: unknown) => `new: ${String(err)}`), /^HTTP\/1\.1 200/);
  await server.waitForOutput(/"msg":"worker serving"/, 10_000, from);
  // Measured between the primary's own log lines (it sees the death at once), so the time this
  // test spends on its own checks meanwhile is not counted.
  const exited = logLines(server, 'worker exited: restarting it').at(-1);
  const served = logLines(server, 'worker serving').at(-1);
  assert.ok(exited && served && exited['pid'] === victim, 'the primary logged the death of the killed worker');
  const replacedMs = Date.parse(String(served['time'])) - Date.parse(String(exited['time']));
  t.diagnostic(`replacement worker serving ${replacedMs} ms after the kill -9 (${Date.now() - killedAt} ms as this test saw it)`);
  const now = await listeningPids(http);
  assert.equal(now.size, 2);
  const replacement = [...now].find((p) => p !== survivor);
  assert.ok(replacement !== undefined && replacement !== victim);
  // The issue's goal is 2 s; measured 0.6–1.1 s on an idle 2-core machine (the diagnostic above).
  // The bound here is looser because CI runs two test files at once on those 2 cores, and a
  // worker's start is mostly module loading: what must fail is a replacement that never comes or
  // waits for a backoff meant for crash loops.
  assert.ok(replacedMs < 5_000, `replacement serving after ${replacedMs} ms`);
  // The replacement takes new connections (the kernel hashes each new one to a listener).
  await eventually('a new connection served by the replacement', 10_000, async () => {
    const c = await connect(http);
    try {
      await c.request('plain.test');
      return (await serverPids(http)).get(c.localPort) === replacement ? true : undefined;
    } finally {
      c.socket.destroy();
    }
  }, 0);

  const status = await server.stop('SIGTERM', 15_000);
  assert.deepEqual(status, { code: 0, signal: null });
  for (const pid of [survivor, replacement]) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} exited with the primary`);
});

test('workers 2: 20 concurrent first handshakes for one on-demand name in both workers make one certificate', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  const ask = await startAsk(() => true);
  t.after(() => ask.close());
  const server = await startServer((env) => `${loopbackGlobals(env, { http, https }, `\tworkers 2\n\tlocal_certs\n\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n`)}
https:// {
	tls {
		on_demand
	}
	respond "od"
}
`);
  t.after(() => server.close());
  await bothServing(server);
  const held: tls.TLSSocket[] = [];
  t.after(() => held.forEach((s) => s.destroy()));
  const serials = await Promise.all(Array.from({ length: 20 }, () => tlsSerial(https, 'new.od.test', held)));
  assert.equal(new Set(serials).size, 1, `one certificate everywhere: ${[...new Set(serials)].join(', ')}`);
  const owners = await serverPids(https);
  const pids = new Set(held.map((s) => owners.get(s.localPort ?? 0)));
  assert.equal(pids.size, 2, 'the handshakes reached both workers');
  await eventually('the issuance logged', 5_000, async () => (logLines(server, 'certificate obtained').length >= 1 ? true : undefined), 50);
  assert.equal(count(server.output(), /"names":\["new\.od\.test"\].*"msg":"obtaining certificate"/), 1, 'exactly one issuance for new.od.test');
});

test('workers 2: only the leader renews, and the follower serves the renewed certificate within 2 s (IPC, not the poll)', { timeout: 120_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  const dir = await mkdtemp(join(tmpdir(), 'my-server-workers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  // Before the workers start: a certificate for a.test due for renewal 16 s after its issue
  // (two thirds of 24 s), from the same local CA the workers then use.
  const storage = await createStorage({ kind: 'file', path: data });
  let seeded: string;
  try {
    const issuer = new LocalIssuer({ storage, log: silentLogger(), lifetimeMs: 24_000 });
    seeded = (await obtainCertificate(['a.test'], { storage, store: new CertificateStore(storage), issuer, keyType: 'p256', log: silentLogger() })).meta.serialHex.toUpperCase();
  } finally {
    await storage.close();
  }
  const server = await startServer((env) => workersConfig({ http, https })(env).replace(`storage file ${env.storage}`, `storage file ${data}`));
  t.after(() => server.close());
  await bothServing(server);
  const held: tls.TLSSocket[] = [];
  t.after(() => held.forEach((s) => s.destroy()));

  await server.waitForOutput(/"msg":"certificate renewed"/, 40_000);
  const renewedAt = Date.now();
  const renewed = await eventually('every new handshake gets the renewed certificate', 2_000, async () => {
    held.splice(0).forEach((s) => s.destroy());
    const serials = await Promise.all(Array.from({ length: 12 }, () => tlsSerial(https, 'a.test', held)));
    return serials.every((x) => x.toUpperCase() !== seeded) && new Set(serials).size === 1 ? serials[0] : undefined;
  }, 50);
  t.diagnostic(`renewed certificate served by both workers ${Date.now() - renewedAt} ms after the leader stored it`);
  assert.notEqual(renewed, seeded);
  // The 12 handshakes landed on both workers, so the follower served the leader's certificate.
  const owners = await serverPids(https);
  assert.equal(new Set(held.map((s) => owners.get(s.localPort ?? 0))).size, 2, 'handshakes reached both workers');
  const renewing = logLines(server, 'renewing certificate');
  assert.deepEqual(renewing.map((l) => l.worker), [1], 'one renewal, by the leader (worker 1)');
  const pushed = logLines(server, 'loaded a certificate renewed elsewhere');
  assert.deepEqual(pushed.map((l) => l.worker), [2], 'the follower loaded it from storage on the push');
});

/** What `count` new connections to `port` answered for plain.test, by the pid that served each. */
async function answers(port: number, n: number): Promise<Map<number, Set<string>>> {
  const conns = await Promise.all(Array.from({ length: n }, () => connect(port)));
  try {
    for (const c of conns) await c.request('plain.test');
    const owners = await serverPids(port);
    const out = new Map<number, Set<string>>();
    for (const c of conns) {
      const pid = owners.get(c.localPort) ?? 0;
      out.set(pid, (out.get(pid) ?? new Set()).add(c.body));
    }
    return out;
  } finally {
    conns.forEach((c) => c.socket.destroy());
  }
}

test('workers 2: a reload reaches every worker (admin /load, SIGHUP to the primary); one the leader cannot build changes none', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  let env: ServerEnv | undefined;
  const server = await startServer((e) => {
    env = e;
    return workersConfig({ http, https })(e);
  });
  t.after(() => server.close());
  assert.ok(env);
  await bothServing(server);
  const all = async (body: string): Promise<boolean> => {
    const got = await answers(http, 16);
    return got.size === 2 && [...got.values()].every((b) => b.size === 1 && b.has(body));
  };

  const v2 = await postLoad(server, workersConfig({ http, https }, '', 'v2')(env));
  assert.equal(v2.status, 200, v2.body);
  assert.ok(await all('v2'), 'both workers answer v2 after /load');

  // Builds nowhere: the leader fails first and the follower is never asked.
  const broken = `${workersConfig({ http, https }, '', 'v3')(env)}
b.test {
	tls ${join(server.dir, 'missing-cert.pem')} ${join(server.dir, 'missing-key.pem')}
	respond "b"
}
`;
  const failed = await postLoad(server, broken);
  assert.ok(failed.status >= 400, `a config that does not build is refused: ${failed.status} ${failed.body}`);
  assert.ok(await all('v2'), 'both workers still answer v2');

  await server.rewrite(workersConfig({ http, https }, '', 'v4')(env));
  const from = server.output().length;
  assert.ok(server.child.pid);
  process.kill(server.child.pid, 'SIGHUP');
  await server.waitForOutput(/"worker":2[^\n]*"msg":"config reloaded"|"msg":"config reloaded"[^\n]*"worker":2/, 20_000, from);
  await server.waitForOutput(/"worker":1[^\n]*"msg":"config reloaded"/, 20_000, from);
  assert.ok(await all('v4'), 'both workers answer v4 after SIGHUP to the primary');
});

test('workers 2 with the primary distributing (as where the kernel refuses SO_REUSEPORT): connections still reach both workers; an environment warning is said once', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  // MY_SERVER_LOG_LEVEL that is no level: a warning at start, which the workers inherit the
  // environment for but must not repeat.
  const server = await startServer(workersConfig({ http, https }), { env: { MY_SERVER_WORKERS_DISTRIBUTION: 'primary', MY_SERVER_LOG_LEVEL: 'loud' } });
  t.after(() => server.close());
  await bothServing(server);
  const envWarnings = server.output().split('\n').filter((l) => l.includes('MY_SERVER_LOG_LEVEL=loud is not a log level'));
  assert.equal(envWarnings.length, 1, `the environment warning once, from the primary:\n${envWarnings.join('\n')}`);
  assert.deepEqual([...(await listeningPids(http))], [server.child.pid], 'only the primary listens');
  const got = await answers(http, 16);
  assert.equal(got.size, 2, `connections handed to both workers: ${JSON.stringify([...got.keys()])}`);
  assert.ok(!got.has(server.child.pid ?? 0));
});

test('workers 2: /metrics on the admin API sums the requests both workers answered', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  const server = await startServer(workersConfig({ http, https }));
  t.after(() => server.close());
  await bothServing(server);
  const served = await answers(http, 16);
  assert.equal(served.size, 2, 'the 16 requests were answered by both workers');
  const res = await fetch(`${server.adminUrl}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  const total = [...text.matchAll(/^my_server_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  assert.equal(total, 16, `my_server_requests_total over both workers:\n${text.split('\n').filter((l) => l.startsWith('my_server_requests_total')).join('\n')}`);
});

test('workers 2: when the leader dies the other worker leads (admin API back at once); the replacement follows', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  const server = await startServer(workersConfig({ http, https }));
  t.after(() => server.close());
  await bothServing(server);
  const leader = logLines(server, 'worker serving').find((l) => l['leader'] === true);
  assert.ok(leader && leader.worker === 1 && typeof leader['pid'] === 'number', 'worker 1 leads at start');
  const from = server.output().length;
  process.kill(leader['pid'], 'SIGKILL');
  await server.waitForOutput(/"worker":2,"msg":"worker leads: renewals and the admin API"/, 10_000, from);
  const health = await eventually('the admin API answers again', 5_000, async () => {
    const res = await fetch(`${server.adminUrl}/health`, { signal: AbortSignal.timeout(2_000) });
    return res.status === 200 ? res.status : undefined;
  }, 50);
  assert.equal(health, 200);
  // The replacement of worker 1 starts as a follower: one leader, no admin API started twice.
  await server.waitForOutput(/"worker":1,"pid":\d+,"leader":false,"msg":"worker serving"/, 10_000, from);
  assert.equal(count(server.output().slice(from), /"msg":"admin API listening"/), 1);
  const res = await fetch(`${server.adminUrl}/metrics`);
  assert.equal(res.status, 200);
});

test('workers 2: SIGTERM to the primary lets requests in flight in both workers finish, then everything exits 0', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  // An upstream that answers each request 1.5 s late: the requests are in flight when SIGTERM comes.
  const { createServer } = await import('node:http');
  let arrived = 0;
  const upstream = createServer((_req, res) => {
    arrived++;
    setTimeout(() => res.end('slow'), 1_500);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => upstream.close());
  const upPort = (upstream.address() as net.AddressInfo).port;
  const server = await startServer((env) => `${loopbackGlobals(env, { http, https }, '\tworkers 2\n')}
http://plain.test:${http} {
	reverse_proxy 127.0.0.1:${upPort}
}
`);
  t.after(() => server.close());
  await bothServing(server);
  const conns = await Promise.all(Array.from({ length: 12 }, () => connect(http)));
  t.after(() => conns.forEach((c) => c.socket.destroy()));
  const pending = conns.map((c) => c.request('plain.test'));
  // Every request is in flight upstream, and the connections are held by both workers, before the signal.
  await eventually('12 requests in flight upstream', 5_000, async () => (arrived === 12 ? true : undefined), 10);
  const owners = await serverPids(http);
  assert.equal(new Set(conns.map((c) => owners.get(c.localPort))).size, 2, 'requests in flight in both workers');
  assert.ok(server.child.pid);
  process.kill(server.child.pid, 'SIGTERM');
  const statuses = await Promise.all(pending);
  assert.deepEqual(new Set(statuses), new Set(['HTTP/1.1 200 OK']));
  assert.ok(conns.every((c) => c.body === 'slow'));
  assert.deepEqual(await server.waitForExit(15_000), { code: 0, signal: null });
});

test('workers 2: a config only one follower cannot build leaves every worker on the old one (all or none)', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  let env: ServerEnv | undefined;
  const server = await startServer((e) => {
    env = e;
    return workersConfig({ http, https })(e);
  });
  t.after(() => server.close());
  assert.ok(env);
  await bothServing(server);
  // A certificate file only worker 1 finds: each worker reads cert-<its id>.pem ({$MY_SERVER_WORKER_ID}).
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=b.test',
    '-addext', 'subjectAltName=DNS:b.test', '-keyout', join(server.dir, 'key-1.pem'), '-out', join(server.dir, 'cert-1.pem')]);
  const text = `${workersConfig({ http, https }, '', 'v6')(env)}
b.test {
	tls ${join(server.dir, 'cert-{$MY_SERVER_WORKER_ID}.pem')} ${join(server.dir, 'key-{$MY_SERVER_WORKER_ID}.pem')}
	respond "b"
}
`;
  const from = server.output().length;
  const res = await postLoad(server, text);
  assert.equal(res.status, 500, res.body);
  assert.match(res.body, /worker 2: .*cert-2\.pem/);
  // The leader had applied it; it went back, so both answer as before.
  await server.waitForOutput(/"worker":1[^\n]*"msg":"reload failed in another worker: back on the previous config"/, 10_000, from);
  const got = await answers(http, 16);
  assert.equal(got.size, 2);
  assert.ok([...got.values()].every((b) => b.size === 1 && b.has('plain')), `still the old config everywhere: ${JSON.stringify([...got].map(([p, b]) => [p, [...b]]))}`);
});
