/**
 * `my-server run` on Redis storage while Redis goes away, three ways: shut down (the socket
 * closes), CLIENT PAUSE (the server holds replies) and SIGSTOP (the process answers nothing, the
 * kernel still accepts). In each: the names already loaded keep being served, a handshake for a
 * new on-demand name fails within the storage timeout without asking the ask endpoint or Pebble
 * for anything, the state change is logged once each way, /health stays 200 and its JSON says
 * down then up, and once Redis is back new names get certificates again (docs/clustering.md
 * "Redis outages").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { startAsk, type AskServer } from '../helpers/ask.ts';
import { handshake } from '../helpers/clients.ts';
import { eventually } from '../helpers/eventually.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startControlledRedis, type ControlledRedis } from '../helpers/redis-control.ts';
import { healthStatus, startServer, type RunningServer } from '../helpers/run-server.ts';

/** `timeout 1s` in the Proxyfile: a hung Redis is noticed within a PING period plus this. */
const STORAGE_TIMEOUT_MS = 1_000;

let pebble: Pebble;
let ask: AskServer;
let httpPort: number;
let httpsPort: number;

before(async () => {
  [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  // Pebble validates against the instance's own ports (HTTP-01 and TLS-ALPN-01).
  pebble = await startPebble({ httpPort, tlsPort: httpsPort });
  ask = await startAsk(() => true);
});

after(async () => {
  await ask?.close();
  await pebble?.stop();
});

function proxyfile(redisPort: number, prefix: string) {
  return (env: { adminPort: number }): string => `{
	acme_ca ${pebble.directoryUrl}
	acme_ca_root ${pebble.caFile}
	email ops@example.test
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	admin 127.0.0.1:${env.adminPort}
	storage redis redis://127.0.0.1:${redisPort} {
		prefix ${prefix}
		timeout ${STORAGE_TIMEOUT_MS}ms
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

interface HealthJson {
  status: string;
  storage?: { kind: string; state: string; since: string; reason?: string };
}

function healthJson(adminPort: number): Promise<{ status: number; body: HealthJson }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/health', headers: { Accept: 'application/json' }, agent: false, timeout: 5_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as HealthJson });
        } catch (err) {
          reject(new Error(`/health JSON: ${text}`, { cause: err }));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('/health timed out')));
    req.on('error', reject);
  });
}

/** A handshake that got a certificate naming `name` (not verified: Pebble's root changes per run). */
async function served(name: string, timeoutMs = 15_000): Promise<boolean> {
  const h = await handshake(httpsPort, name, undefined, timeoutMs);
  return h.ok && (h.subjectAltName ?? '').includes(`DNS:${name}`);
}

function count(text: string, re: RegExp): number {
  return text.split('\n').filter((line) => re.test(line)).length;
}

interface Outage {
  /** Makes Redis unavailable; resolves with what brings it back. */
  begin(redis: ControlledRedis): Promise<() => Promise<void>>;
}

const outages: Record<string, Outage> = {
  'redis-cli shutdown nosave, then a new redis-server on the same port': {
    async begin(redis) {
      await redis.cli(['shutdown', 'nosave']);
      await redis.exited();
      return () => redis.start();
    },
  },
  'CLIENT PAUSE 5000 ALL (replies held for 5 s)': {
    async begin(redis) {
      const paused = await redis.cli(['client', 'pause', '5000', 'all']);
      assert.match(paused.stdout, /OK/, paused.stderr);
      // The pause ends by itself.
      return () => Promise.resolve();
    },
  },
  'kill -STOP on redis-server, then kill -CONT': {
    async begin(redis) {
      const pid = redis.pid();
      process.kill(pid, 'SIGSTOP');
      return () => Promise.resolve(void process.kill(pid, 'SIGCONT'));
    },
  },
};

describe('my-server run while Redis is unavailable', () => {
  for (const [label, outage] of Object.entries(outages)) {
    test(label, { timeout: 60_000 }, async (t) => {
      const started = Date.now();
      const redis = await startControlledRedis();
      let server: RunningServer | undefined;
      try {
        const id = randomUUID().slice(0, 8);
        server = await startServer(proxyfile(redis.port, `outage-${id}`));
        const s = server;
        const cached = `cached-${id}.test`;
        assert.ok(await eventually(`${cached} served`, 20_000, async () => ((await served(cached)) ? true : undefined), 200));
        assert.equal((await healthJson(s.adminPort)).body.storage?.state, 'up');
        const orders = pebble.countOrders();
        const from = s.output().length;

        const restore = await outage.begin(redis);
        // A new name needs the store (and its lock). Asked for before the outage is noticed, its
        // handshake waits at most the storage timeout, then fails without asking anybody.
        const fresh = `fresh-${id}.test`;
        const t1 = Date.now();
        const freshServed = served(fresh, 15_000);
        await s.waitForOutput(/storage redis:.* is unavailable/, 10_000, from);
        assert.equal(await freshServed, false, `${fresh} got a certificate while Redis was unavailable`);
        const failedInMs = Date.now() - t1;
        assert.ok(failedInMs < STORAGE_TIMEOUT_MS + 2_000, `the handshake for a new name took ${failedInMs} ms to fail`);
        t.diagnostic(`a handshake for a new name failed ${failedInMs} ms after the outage began`);

        // First, while a 5 s CLIENT PAUSE surely lasts: /health stays 200, its JSON says down.
        assert.equal(await healthStatus(s.adminPort), 200);
        const down = await healthJson(s.adminPort);
        assert.equal(down.status, 200);
        assert.equal(down.body.status, 'ok');
        assert.equal(down.body.storage?.kind, 'redis');
        assert.equal(down.body.storage?.state, 'down');
        assert.ok(down.body.storage?.since !== undefined && !Number.isNaN(Date.parse(down.body.storage.since)));

        // Once the outage is known, a new name fails at once.
        const other = `other-${id}.test`;
        const t2 = Date.now();
        assert.equal(await served(other, 15_000), false, `${other} got a certificate while Redis was unavailable`);
        assert.ok(Date.now() - t2 < 1_000, `the handshake for ${other} took ${Date.now() - t2} ms to fail`);

        // Serving what is loaded needs no storage: every handshake succeeds, none waits.
        const t0 = Date.now();
        const results = await Promise.all(Array.from({ length: 20 }, () => served(cached, 5_000)));
        assert.deepEqual(results.filter((ok) => !ok), [], 'a handshake for a loaded name failed during the outage');
        t.diagnostic(`20 handshakes for the loaded name during the outage: ${Date.now() - t0} ms`);

        await s.waitForOutput(new RegExp(`no certificate for ${fresh.replace(/\./g, '\\.')}: .*storage unavailable`), 5_000, from);
        assert.equal(pebble.countOrders(), orders, 'an order was made while Redis was unavailable');
        assert.ok(!ask.asked.includes(fresh) && !ask.asked.includes(other), 'the ask endpoint was asked while Redis was unavailable');

        await restore();
        // From `from`: CLIENT PAUSE may have ended (and been noticed) already.
        await s.waitForOutput(/storage redis:.* is available again/, 15_000, from);
        assert.equal((await healthJson(s.adminPort)).body.storage?.state, 'up');
        // The change subscription is back too (a restarted server has forgotten it: the client resubscribes).
        await eventually('the instance subscribed to certificate changes again', 10_000, async () => {
          const numsub = (await redis.cli(['--raw', 'pubsub', 'numsub', `outage-${id}:changes`])).stdout.split('\n');
          return numsub[1] === '1' ? true : undefined;
        }, 100);

        // Issuance resumes: a name never seen, and the one refused during the outage (no backoff
        // was recorded for a storage outage), each at its first handshake.
        const after = `after-${id}.test`;
        assert.equal(await served(after, 20_000), true, `${after} not served after Redis came back`);
        assert.equal(await served(fresh, 20_000), true, `${fresh} not served after Redis came back`);
        assert.equal(pebble.countOrders(), orders + 2);
        assert.equal(await served(cached, 5_000), true);

        // Logged once each way, not once per call.
        const log = s.output().slice(from);
        assert.equal(count(log, /is unavailable \(/), 1, log);
        assert.equal(count(log, /is available again/), 1, log);
        t.diagnostic(`scenario took ${Date.now() - started} ms`);
      } finally {
        await server?.close();
        await redis.stop();
      }
    });
  }
});
