/**
 * The fencing token with real `my-server run` instances (issue 13): instance A is SIGSTOPped in the
 * middle of an issuance, holding the name's lock, for longer than `lock_lease`; B takes the name
 * over, obtains and stores its certificate; A is continued, finishes its own order, and its late
 * save is refused: A keeps serving B's certificate, storage holds B's, nothing crashes.
 *
 * Pebble validates through a proxy that holds every validation connection until the test lets it
 * go, so A is certainly mid-issuance (its challenge answered, the CA not yet done) when stopped.
 * The proxy forwards to B, which answers the challenge A created from Redis.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { startAsk, type AskServer } from '../helpers/ask.ts';
import { eventually } from '../helpers/eventually.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startServer, type RunningServer } from '../helpers/run-server.ts';

const execFileP = promisify(execFile);
const LEASE_MS = 2_000;

/** A TCP proxy that holds every connection until release(), then pipes it (and later ones) to `target`. */
interface HoldProxy {
  readonly held: () => number;
  release(): void;
  close(): Promise<void>;
}

function holdProxy(port: number, target: number): Promise<HoldProxy> {
  const waiting: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  let released = false;
  const pipe = (client: net.Socket): void => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    // Paused, so what the CA sends first (a ClientHello, a GET) waits in the socket for the pipe.
    client.pause();
    if (released) pipe(client);
    else waiting.push(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve({
        held: () => waiting.length,
        release: () => {
          released = true;
          for (const c of waiting.splice(0)) pipe(c);
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

let redis: RedisServer;
let pebble: Pebble;
let ask: AskServer;
let proxies: HoldProxy[] = [];
let a: { http: number; https: number };
let b: { http: number; https: number };

before(async () => {
  const [ah, as, bh, bs, ph, pt] = (await freePorts(6)) as [number, number, number, number, number, number];
  a = { http: ah, https: as };
  b = { http: bh, https: bs };
  proxies = [await holdProxy(ph, bh), await holdProxy(pt, bs)];
  redis = await startRedis();
  pebble = await startPebble({ httpPort: ph, tlsPort: pt });
  ask = await startAsk(() => true);
});

after(async () => {
  await ask?.close();
  await pebble?.stop();
  await redis?.stop();
  await Promise.all(proxies.map((p) => p.close()));
});

function proxyfile(p: { http: number; https: number }, prefix: string) {
  return (env: { adminPort: number }): string => `{
	acme_ca ${pebble.directoryUrl}
	acme_ca_root ${pebble.caFile}
	email ops@example.test
	http_port ${p.http}
	https_port ${p.https}
	default_bind 127.0.0.1
	admin 127.0.0.1:${env.adminPort}
	storage redis ${redis.url} {
		prefix ${prefix}
		timeout 1s
		lock_lease ${LEASE_MS}ms
	}
	on_demand_tls {
		ask ${ask.url}
	}
}
https:// {
	tls {
		on_demand
	}
	respond "od"
}
`;
}

function servedSerial(port: number, servername: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`TLS handshake for ${servername} timed out`)));
    socket.on('error', reject);
  });
}

async function lockKeys(prefix: string): Promise<string[]> {
  const { stdout } = await execFileP('redis-cli', ['-p', String(redis.port), '--raw', 'keys', `${prefix}:lock:*`], { encoding: 'utf8' });
  return stdout.split('\n').filter((k) => k !== '');
}

test('a run instance stopped mid-issuance past its lease: the other takes over, the late save is refused, both serve the newer certificate', { timeout: 60_000 }, async (t) => {
  const prefix = `stop-${randomUUID().slice(0, 8)}`;
  const servers: RunningServer[] = [];
  let stoppedPid: number | undefined;
  try {
    const sa = await startServer(proxyfile(a, prefix));
    servers.push(sa);
    const sb = await startServer(proxyfile(b, prefix));
    servers.push(sb);
    const name = `stopped-${randomUUID().slice(0, 8)}.test`;
    const escaped = name.replace(/\./g, '\\.');

    // A orders; the CA's validation is held by the proxy, so A waits with the lock.
    const fromA = sa.output().length;
    const firstHandshake = servedSerial(a.https, name).catch((err: unknown) => err);
    await sa.waitForOutput(new RegExp(`"challenge-presented".*${escaped}`), 20_000, fromA);
    await eventually('the CA connecting to validate', 10_000, () => Promise.resolve(proxies.some((p) => p.held() > 0) ? true : undefined), 20);
    assert.equal((await lockKeys(prefix)).length, 1, 'A holds the issuance lock');
    stoppedPid = sa.child.pid;
    assert.ok(stoppedPid !== undefined);
    process.kill(stoppedPid, 'SIGSTOP');
    const stoppedAt = Date.now();

    // The lease runs out while A is stopped (Redis keeps the time).
    await eventually('A\'s lease to expire', LEASE_MS + 5_000, async () => ((await lockKeys(prefix)).length === 0 ? true : undefined), 100);
    t.diagnostic(`A's lock expired ${Date.now() - stoppedAt} ms after SIGSTOP`);
    for (const p of proxies) p.release();

    // B takes the name over and stores its own certificate.
    const fromB = sb.output().length;
    const serialB = await servedSerial(b.https, name);
    await sb.waitForOutput(new RegExp(`"names":\\["${escaped}"\\].*"msg":"certificate obtained"`), 10_000, fromB);

    // A continues: it finishes its order, its save is refused, it keeps B's certificate.
    process.kill(stoppedPid, 'SIGCONT');
    stoppedPid = undefined;
    const log = await sa.waitForOutput(/another instance took over this name while we were issuing: keeping its certificate/, 20_000, fromA);
    const line = log.slice(fromA).split('\n').find((l) => l.includes('another instance took over'));
    assert.ok(line !== undefined);
    const refused = JSON.parse(line) as { serial: string; dropped: string; err: { message: string } };
    assert.equal(refused.serial.toUpperCase(), serialB.toUpperCase(), 'A kept another certificate than B\'s');
    assert.notEqual(refused.dropped.toUpperCase(), serialB.toUpperCase(), 'A\'s own order should have produced another certificate');
    assert.match(refused.err.message, /refused, lock "issue_cert_.*" was taken by a newer holder \(token \d+, ours \d+\)/);

    // Every instance serves B's certificate, and that is what storage holds.
    assert.equal((await servedSerial(a.https, name)).toUpperCase(), serialB.toUpperCase());
    assert.equal((await servedSerial(b.https, name)).toUpperCase(), serialB.toUpperCase());
    const first = await firstHandshake;
    t.diagnostic(`the handshake A held through the stop: ${first instanceof Error ? first.message : `served ${first}`}`);
    const metaKeys = (await execFileP('redis-cli', ['-p', String(redis.port), '--raw', 'keys', `${prefix}:data:certificates/*/${name}/${name}.json`], { encoding: 'utf8' })).stdout.split('\n').filter((k) => k !== '');
    assert.equal(metaKeys.length, 1, metaKeys.join(', '));
    const stored = JSON.parse((await execFileP('redis-cli', ['-p', String(redis.port), '--raw', 'hget', metaKeys[0]!, 'v'], { encoding: 'utf8' })).stdout) as { serialHex: string };
    assert.equal(stored.serialHex.toUpperCase(), serialB.toUpperCase(), 'storage holds another certificate than B\'s');
    assert.equal(sa.child.exitCode, null, 'A exited');
    assert.doesNotMatch(sa.output().slice(fromA), /"level":"fatal"|uncaught/i);
  } finally {
    if (stoppedPid !== undefined) process.kill(stoppedPid, 'SIGCONT');
    await Promise.all(servers.map((s) => s.close()));
  }
});
