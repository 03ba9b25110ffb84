/**
 * `workers N|auto`: the option's forms and errors, the count it means, and how listeners bind
 * beside other workers (SO_REUSEPORT) or alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { restartDelay, sharedLogFiles, workerCount } from '../../../src/cluster/primary.ts';
import { isOurs } from '../../../src/cluster/protocol.ts';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { Acceptors, shareListeners } from '../../../src/util/listen.ts';

async function workersOf(body: string): Promise<number | 'auto' | undefined> {
  const config = await parseConfig(`{\n${body}\n}\nexample.com {\n\trespond ok\n}\n`, { filename: 'P', env: {} });
  return config.globals.workers;
}

async function errorOf(body: string): Promise<string> {
  try {
    await workersOf(body);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n')[0] as string;
    throw err;
  }
  assert.fail(`no error for ${body}`);
}

test('workers N|auto parses; absent leaves it unset (one process)', async () => {
  assert.equal(await workersOf('\tworkers 4'), 4);
  assert.equal(await workersOf('\tworkers 1'), 1);
  assert.equal(await workersOf('\tworkers auto'), 'auto');
  assert.equal(await workersOf('\temail a@example.com'), undefined);
});

test('a wrong workers option is a FILE:LINE:COL error at the token at fault', async () => {
  assert.equal(await errorOf('\tworkers 0'), 'P:2:10: invalid workers (a count or auto) "0": must be 1-256');
  assert.equal(await errorOf('\tworkers 257'), 'P:2:10: invalid workers (a count or auto) "257": must be 1-256');
  assert.equal(await errorOf('\tworkers many'), 'P:2:10: invalid workers (a count or auto) "many": not an integer');
  assert.match(await errorOf('\tworkers'), /^P:2:2: .*workers N\|auto/);
  assert.match(await errorOf('\tworkers 2 3'), /^P:2:\d+: .*workers N\|auto/);
  assert.match(await errorOf('\tworkers 2\n\tworkers 3'), /^P:3:2: /);
});

test('the worker count: unset is 1, auto is the parallelism the host allows (at least 1)', () => {
  assert.equal(workerCount(undefined, 16), 1);
  assert.equal(workerCount(3, 16), 3);
  assert.equal(workerCount('auto', 16), 16);
  assert.equal(workerCount('auto', 0), 1);
});

test('only messages named ms:* are ours (node:cluster and prom-client share the channel)', () => {
  assert.equal(isOurs({ t: 'ms:lead' }), true);
  assert.equal(isOurs({ type: 'prom-client:getMetricsReq' }), false);
  assert.equal(isOurs({ cmd: 'NODE_CLUSTER', t: 'other' }), false);
  assert.equal(isOurs('ms:lead'), false);
  assert.equal(isOurs(null), false);
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test('listeners: two binds of one port succeed with SO_REUSEPORT, and the second fails alone (EADDRINUSE)', async (t) => {
  const port = await freePort();
  const a = new Acceptors(net.createServer(), silentLogger());
  const b = new Acceptors(net.createServer(), silentLogger());
  t.after(() => {
    a.close();
    b.close();
    shareListeners('alone');
  });
  shareListeners('reuseport');
  await a.listen(port, ['127.0.0.1']);
  await b.listen(port, ['127.0.0.1']);
  shareListeners('alone');
  const c = new Acceptors(net.createServer(), silentLogger());
  await assert.rejects(c.listen(port, ['127.0.0.1']), /listening on 127\.0\.0\.1:\d+: EADDRINUSE/);
});

test('a worker that keeps dying is restarted at once, then after 0.5 s doubling, never more than 30 s apart', () => {
  assert.equal(restartDelay(0), 0, 'a one-off crash is replaced at once');
  // The jitter keeps each delay within [half, all] of its step, so the steps never overlap downwards.
  for (const random of [() => 0, () => 0.5, () => 1]) {
    const delays = Array.from({ length: 12 }, (_, i) => restartDelay(i + 1, random));
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!, `delays grow: ${delays.join(', ')}`);
    assert.ok(delays[0]! >= 250 && delays[0]! <= 500, `first backoff ${delays[0]}`);
    assert.ok(delays.every((d) => d <= 30_000), `bounded by 30 s: ${delays.join(', ')}`);
    assert.ok(delays.at(-1)! >= 15_000, `reaches the bound: ${delays.join(', ')}`);
  }
  assert.ok(restartDelay(1_000) <= 30_000, 'a very long crash loop stays bounded');
});

test('sharedLogFiles: rolled log files named the same for every worker are found; per-worker names and roll_disabled are not', async () => {
  const text = `{
	workers 2
	log {
		output file /var/log/ms/server.log
	}
	log audit {
		output file /var/log/ms/audit-{$MY_SERVER_WORKER_ID:0}.log
		include http.log.access
	}
}
a.example {
	log {
		output file /var/log/ms/a.log
	}
	respond ok
}
b.example {
	log {
		output file /var/log/ms/b.log {
			roll_disabled
		}
	}
	respond ok
}
`;
  const as = (id: string) => parseConfig(text, { filename: '/etc/ms/Proxyfile', env: { MY_SERVER_WORKER_ID: id } });
  assert.deepEqual(sharedLogFiles(await as('1'), await as('2')), ['/var/log/ms/a.log', '/var/log/ms/server.log']);
});
