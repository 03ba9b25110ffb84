/**
 * Three `my-server run` instances on one redis-server and one Pebble (issue 13's first test): 50
 * concurrent first handshakes for one new on-demand name, spread over the three, make exactly one
 * ACME order and every instance serves the one certificate. Pebble validates against instance A
 * only, so whenever B or C holds the lock, A answers a challenge another instance created (the
 * challenge state is in Redis). A second test makes that certain for both challenge types: B
 * orders, Pebble asks A.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import tls from 'node:tls';
import { startAsk, type AskServer } from '../helpers/ask.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startServer, type RunningServer } from '../helpers/run-server.ts';

interface Ports {
  readonly http: number;
  readonly https: number;
}

let redis: RedisServer;
let pebble: Pebble;
let ask: AskServer;
let ports: Ports[];
const servers: RunningServer[] = [];

function proxyfile(p: Ports, prefix: string) {
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
	}
	on_demand_tls {
		ask ${ask.url}
	}
}
*.h01.test {
	tls {
		on_demand
		issuer acme {
			disable_tlsalpn_challenge
		}
	}
	respond "http-01 only"
}
*.alpn.test {
	tls {
		on_demand
		issuer acme {
			disable_http_challenge
		}
	}
	respond "tls-alpn-01 only"
}
https:// {
	tls {
		on_demand
	}
	respond "od"
}
`;
}

before(async () => {
  const p = (await freePorts(6)) as number[];
  ports = [0, 1, 2].map((i) => ({ http: p[2 * i]!, https: p[2 * i + 1]! }));
  redis = await startRedis();
  // Validation goes to instance A (ports[0]) whichever instance made the order.
  pebble = await startPebble({ httpPort: ports[0]!.http, tlsPort: ports[0]!.https });
  ask = await startAsk(() => true);
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await ask?.close();
  await pebble?.stop();
  await redis?.stop();
});

/** The serial of the certificate served for `servername` on `port`, or the error. */
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

test('3 instances, 50 concurrent first handshakes for one new name: one ACME order, one serial everywhere', { timeout: 120_000 }, async (t) => {
  const prefix = `cluster-${randomUUID().slice(0, 8)}`;
  for (const p of ports) servers.push(await startServer(proxyfile(p, prefix)));
  const name = `crowd-${randomUUID().slice(0, 8)}.test`;
  const orders = pebble.countOrders();
  const started = Date.now();
  const serials = await Promise.all(Array.from({ length: 50 }, (_, i) => servedSerial(ports[i % 3]!.https, name)));
  t.diagnostic(`50 handshakes over 3 instances done in ${Date.now() - started} ms`);
  assert.equal(pebble.countOrders() - orders, 1, 'orders made for one new name');
  assert.equal(new Set(serials).size, 1, `serials served: ${[...new Set(serials)].join(', ')}`);
  // Each instance serves it afterwards from memory, the same one.
  for (const p of ports) assert.equal(await servedSerial(p.https, name), serials[0]);
  const issuers = servers.filter((s) => s.output().split('\n').some((l) => l.includes(`"names":["${name}"]`) && l.includes('"msg":"obtaining certificate"')));
  assert.equal(issuers.length, 1, 'instances that logged "obtaining certificate" for the name');
  t.diagnostic(`the order was made by instance ${'ABC'[servers.indexOf(issuers[0]!)]}; Pebble validated against A`);
});

test('an order made by instance B is validated against instance A, for HTTP-01 and for TLS-ALPN-01', { timeout: 120_000 }, async () => {
  // Only B sees these handshakes, so B takes the lock and orders; Pebble reaches only A.
  const [a, b] = servers;
  assert.ok(a !== undefined && b !== undefined, 'the first test started the instances');
  for (const [sub, type] of [['h01', 'http-01'], ['alpn', 'tls-alpn-01']] as const) {
    const name = `n${randomUUID().slice(0, 8)}.${sub}.test`;
    const from = b.output().length;
    const orders = pebble.countOrders();
    const serial = await servedSerial(ports[1]!.https, name);
    assert.ok(serial !== '');
    assert.equal(pebble.countOrders() - orders, 1);
    const log = b.output().slice(from).split('\n').filter((l) => l.includes(name));
    assert.ok(log.some((l) => l.includes('"msg":"obtaining certificate"')), `B did not order ${name}:\n${log.join('\n')}`);
    assert.ok(log.some((l) => l.includes(`"challengeType":"${type}"`) && l.includes('authorization-valid')), `no valid ${type} authorization in B's log:\n${log.join('\n')}`);
    assert.ok(!a.output().includes(`"names":["${name}"]`), 'A ordered too');
    // A, which answered the challenge, serves the certificate B stored.
    assert.equal(await servedSerial(ports[0]!.https, name), serial);
  }
});
