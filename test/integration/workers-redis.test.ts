/**
 * `workers 2` on `storage redis` (a real redis-server): a certificate one worker stores reaches the
 * other both through the primary (IPC) and through Redis pub/sub; the two paths must not make it
 * load twice. Which worker holds a connection is read from the kernel (`ss -tnp`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import tls from 'node:tls';
import { CertificateStore } from '../../src/certs/certificate-store.ts';
import { LocalIssuer } from '../../src/certs/local-issuer.ts';
import { obtainCertificate } from '../../src/certs/obtain.ts';
import { silentLogger } from '../../src/log.ts';
import { createStorage } from '../../src/storage/index.ts';
import { startAsk } from '../helpers/ask.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startServer } from '../helpers/run-server.ts';
import { logLines, serverPids } from '../helpers/cluster.ts';


let redis: RedisServer | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

function tlsSerial(port: number, servername: string, keep: tls.TLSSocket[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, timeout: 20_000 }, () => {
      keep.push(socket);
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error(`TLS handshake for ${servername} timed out`)));
  });
}

/** `count` handshakes at once for `name`: the serials served and the pids (workers) that served them. */
async function served(port: number, name: string, count: number): Promise<{ serials: Set<string>; pids: Set<number | undefined> }> {
  const held: tls.TLSSocket[] = [];
  try {
    const serials = await Promise.all(Array.from({ length: count }, () => tlsSerial(port, name, held)));
    const owners = await serverPids(port);
    return { serials: new Set(serials), pids: new Set(held.map((s) => owners.get(s.localPort ?? 0))) };
  } finally {
    held.forEach((s) => s.destroy());
  }
}

test('workers 2 on storage redis: an on-demand certificate one worker obtained and a renewal by the leader are served by both, each loaded once (IPC and pub/sub do not both reload)', { timeout: 120_000 }, async (t) => {
  assert.ok(redis);
  const prefix = `workers-${randomUUID()}`;
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  const ask = await startAsk(() => true);
  t.after(() => ask.close());
  // Before the workers start: a certificate for a.test due for renewal 16 s after its issue (two
  // thirds of 24 s), in the same Redis prefix, from the local CA the workers then use.
  const storage = await createStorage({ kind: 'redis', url: redis.url, prefix });
  let seeded: string;
  try {
    const issuer = new LocalIssuer({ storage, log: silentLogger(), lifetimeMs: 24_000 });
    seeded = (await obtainCertificate(['a.test'], { storage, store: new CertificateStore(storage), issuer, keyType: 'p256', log: silentLogger() })).meta.serialHex.toUpperCase();
  } finally {
    await storage.close();
  }
  const server = await startServer((env) => `{
	http_port ${http}
	https_port ${https}
	default_bind 127.0.0.1
	admin 127.0.0.1:${env.adminPort}
	grace_period 2s
	workers 2
	storage redis ${redis!.url} {
		prefix ${prefix}
	}
	local_certs
	on_demand_tls {
		ask ${ask.url}
	}
}
a.test {
	tls internal
	respond "a"
}
https://*.od.test {
	tls {
		on_demand
	}
	respond "od"
}
`);
  t.after(() => server.close());
  await eventually('both workers serving', 30_000, async () => (logLines(server, 'worker serving').length >= 2 ? true : undefined), 50);

  // One first handshake: one worker obtains; then handshakes spread over both get the same certificate.
  const first = await served(https, 'new.od.test', 1);
  const [obtained] = [...first.serials];
  const spread = await eventually('handshakes reaching both workers', 10_000, async () => {
    const got = await served(https, 'new.od.test', 12);
    return got.pids.size === 2 ? got : undefined;
  }, 0);
  assert.deepEqual([...spread.serials], [obtained], 'both workers serve the certificate the first one obtained');
  assert.equal(logLines(server, 'obtaining certificate').filter((l) => JSON.stringify(l['names']) === '["new.od.test"]').length, 1, 'one issuance for new.od.test');

  // The leader renews a.test; the follower hears of it twice (IPC from the primary, Redis pub/sub).
  await server.waitForOutput(/"msg":"certificate renewed"/, 40_000);
  const renewedAt = Date.now();
  const renewed = await eventually('both workers serve the renewed a.test', 2_000, async () => {
    const got = await served(https, 'a.test', 12);
    return got.pids.size === 2 && got.serials.size === 1 && !got.serials.has(seeded) ? [...got.serials][0] : undefined;
  }, 50);
  t.diagnostic(`renewed a.test (${renewed}) served by both workers ${Date.now() - renewedAt} ms after the leader stored it`);
  // Both channels have delivered by now (each takes milliseconds); give a late duplicate time to show.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const loads = logLines(server, 'loaded a certificate renewed elsewhere').filter((l) => l['name'] === 'a.test');
  assert.deepEqual(loads.map((l) => l['worker']), [2], `the follower loaded the renewal once, the leader not at all: ${JSON.stringify(loads)}`);
  assert.deepEqual(logLines(server, 'renewing certificate').map((l) => l['worker']), [1], 'one renewal, by the leader');
  assert.equal(logLines(server, 'config reloaded').length, 0, 'no config reloads');
  assert.deepEqual(await server.stop('SIGTERM', 15_000), { code: 0, signal: null });
});
