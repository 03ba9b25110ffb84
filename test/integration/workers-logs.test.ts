/**
 * Log files with `workers 2`: a file name holding `{$MY_SERVER_WORKER_ID:0}` gives each worker a
 * file of its own (so each rolls only its own, docs/clustering.md), and the primary none for
 * access logs it never writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { loopbackGlobals } from '../helpers/clients.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer } from '../helpers/run-server.ts';

/** A GET on a new connection, answered in full. */
function get(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n`));
    socket.on('data', () => undefined);
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

test('workers 2: access log files named with {$MY_SERVER_WORKER_ID:0} are one per worker, each with only its own requests', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  const server = await startServer((env) => `${loopbackGlobals(env, { http, https }, '\tworkers 2\n')}
http://plain.test:${http} {
	log {
		output file ${join(env.dir, 'logs', 'access-{$MY_SERVER_WORKER_ID:0}.log')}
	}
	respond "plain"
}
`);
  t.after(() => server.close());
  await eventually('both workers serving', 30_000, async () => (server.output().split('"msg":"worker serving"').length > 2 ? true : undefined), 50);
  for (let i = 0; i < 32; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => get(http, `/r${i + j}`)));
  const dir = join(server.dir, 'logs');
  const entries = async (id: number): Promise<{ worker?: number; request?: { uri?: string } }[]> =>
    (await readFile(join(dir, `access-${id}.log`), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { worker?: number });
  // Access log lines are written as each response ends; all 32 are in by the time they add up.
  const [one, two] = await eventually('32 access log lines', 10_000, async () => {
    const both = await Promise.all([entries(1), entries(2)]);
    return both[0].length + both[1].length === 32 ? both : undefined;
  }, 50);
  assert.ok(one.length > 0 && two.length > 0, `both workers logged requests: ${one.length} + ${two.length}`);
  assert.ok(one.every((e) => e.worker === 1) && two.every((e) => e.worker === 2), 'each file holds its own worker\'s lines only');
  const uris = new Set([...one, ...two].map((e) => e.request?.uri));
  assert.equal(uris.size, 32, 'every request logged once');
  assert.deepEqual((await readdir(dir)).sort(), ['access-1.log', 'access-2.log'], 'no file shared with the primary');
  assert.doesNotMatch(server.output(), /every worker writes and rolls these log files/);
  assert.deepEqual(await server.stop('SIGTERM', 15_000), { code: 0, signal: null });
});

test('workers 2: the primary warns once, naming it, about a rolled log file every worker would share', { timeout: 90_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  let file = '';
  const server = await startServer((env) => {
    file = join(env.dir, 'access.log');
    return `${loopbackGlobals(env, { http, https }, '\tworkers 2\n')}
http://plain.test:${http} {
	log {
		output file ${file}
	}
	respond "plain"
}
`;
  });
  t.after(() => server.close());
  await server.waitForOutput(/"msg":"every worker writes and rolls these log files/, 30_000);
  const warnings = server.output().split('\n').filter((l) => l.includes('every worker writes and rolls these log files'));
  assert.equal(warnings.length, 1, warnings.join('\n'));
  const warning = JSON.parse(warnings[0]!) as { files: string[]; worker?: number };
  assert.deepEqual(warning.files, [file]);
  assert.equal(warning.worker, undefined, 'from the primary');
});
