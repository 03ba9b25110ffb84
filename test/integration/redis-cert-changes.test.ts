import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import tls from 'node:tls';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startServer, type RunningServer, type ServerEnv } from '../helpers/run-server.ts';

let redis: RedisServer | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

/** The serial (hex, as Node prints it) of the certificate served for `servername`. */
function servedSerial(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, timeout: 5_000 }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
  });
}

/**
 * An instance on its own ports sharing the Redis store with its peers. The storage check runs every
 * minute by default, so a change seen within 2 s came through the change channel, not the poll.
 */
function proxyfile(url: string, prefix: string, ports: { http: number; https: number }) {
  return (env: ServerEnv): string => `{
	http_port ${ports.http}
	https_port ${ports.https}
	default_bind 127.0.0.1
	admin 127.0.0.1:${env.adminPort}
	storage redis ${url} {
		prefix ${prefix}
	}
}
shared.test {
	tls internal
	respond "hi"
}
*.wild.test {
	tls internal
	respond "wild"
}
`;
}

test('a certificate renewed through one instance\'s storage is served by every instance within 2 s (pub/sub, not the minute poll)', async (t) => {
  assert.ok(redis !== undefined);
  const prefix = `changes-${randomUUID()}`;
  const [httpA, httpsA, httpB, httpsB] = await freePorts(4);
  assert.ok(httpA && httpsA && httpB && httpsB);
  const servers: RunningServer[] = [];
  try {
    const a = await startServer(proxyfile(redis.url, prefix, { http: httpA, https: httpsA }));
    servers.push(a);
    const first = await eventually('instance A serves shared.test', 30_000, () => servedSerial(httpsA, 'shared.test'));
    const b = await startServer(proxyfile(redis.url, prefix, { http: httpB, https: httpsB }));
    servers.push(b);
    // B loads A's certificate from the shared store instead of making its own.
    assert.equal(await eventually('instance B serves shared.test', 30_000, () => servedSerial(httpsB, 'shared.test')), first);

    // A wildcard's storage key spells "*" as "wildcard_": the change must still find its entry.
    const firstWild = await eventually('instance A serves *.wild.test', 30_000, () => servedSerial(httpsA, 'a.wild.test'));
    assert.equal(await eventually('instance B serves *.wild.test', 30_000, () => servedSerial(httpsB, 'a.wild.test')), firstWild);

    /** The serials both instances serve for `servername` once they differ from `was`, and how long that took. */
    const renewedEverywhere = async (name: string, servername: string, was: string): Promise<{ served: string[]; tookMs: number }> => {
      const renewed = await runCli(['certs', 'renew', name, '--config', a.file]);
      assert.equal(renewed.code, 0, renewed.stderr);
      const storedAt = Date.now();
      const changed = async (port: number): Promise<string | undefined> => {
        const serial = await servedSerial(port, servername);
        return serial !== was ? serial : undefined;
      };
      const served = await Promise.all([httpsA, httpsB].map((port) => eventually(`the renewed certificate of ${name} served`, 2_000, () => changed(port), 50)));
      return { served, tookMs: Date.now() - storedAt };
    };
    for (const [name, servername, was] of [['shared.test', 'shared.test', first], ['*.wild.test', 'a.wild.test', firstWild]]) {
      const { served, tookMs } = await renewedEverywhere(name!, servername!, was!);
      assert.equal(served[0], served[1], `the two instances serve different certificates for ${name}`);
      assert.ok(tookMs <= 2_000, `${name}: took ${tookMs} ms`);
      t.diagnostic(`both instances served the renewed certificate of ${name} ${tookMs} ms after the CLI exited`);
    }
    await b.waitForOutput(/loaded a certificate renewed elsewhere/);
    // The change subscription's connection must not keep a stopping instance alive.
    for (const s of [a, b]) assert.deepEqual(await s.stop('SIGTERM', 15_000), { code: 0, signal: null });
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
});
