/**
 * `workers 2` supervision with real processes: a worker that cannot start any more is restarted
 * with growing delays, the primary stays idle meanwhile, the other worker keeps serving, and the
 * worker comes back once it can start again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loopbackGlobals, rawGet } from '../helpers/clients.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer } from '../helpers/run-server.ts';
import { listeningPids, logLines } from '../helpers/cluster.ts';

const run = promisify(execFile);

/** user + system CPU seconds of a process, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}


test('workers 2: a worker that cannot start is restarted with growing, bounded delays while the primary idles and the other serves; it returns once it can start', { timeout: 120_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  const certs = await mkdtemp(join(tmpdir(), 'my-server-crash-loop-'));
  t.after(() => rm(certs, { recursive: true, force: true }));
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=b.test',
    '-addext', 'subjectAltName=DNS:b.test', '-keyout', join(certs, 'key.pem'), '-out', join(certs, 'cert.pem')]);
  // Each worker reads its own copy ({$MY_SERVER_WORKER_ID}): removing worker 2's makes only it unable to start.
  for (const id of [1, 2]) {
    await copyFile(join(certs, 'cert.pem'), join(certs, `cert-${id}.pem`));
    await copyFile(join(certs, 'key.pem'), join(certs, `key-${id}.pem`));
  }
  const server = await startServer((env) => `${loopbackGlobals(env, { http, https }, '\tworkers 2\n')}
http://plain.test:${http} {
	respond "plain"
}
b.test {
	tls ${join(certs, 'cert-{$MY_SERVER_WORKER_ID}.pem')} ${join(certs, 'key-{$MY_SERVER_WORKER_ID}.pem')}
	respond "b"
}
`);
  t.after(() => server.close());
  await eventually('both workers serving', 30_000, async () => (logLines(server, 'worker serving').length >= 2 ? true : undefined), 50);
  const primary = server.child.pid;
  const second = logLines(server, 'worker serving').find((l) => l['worker'] === 2);
  assert.ok(primary !== undefined && second && typeof second['pid'] === 'number');

  await rm(join(certs, 'cert-2.pem'));
  const from = server.output().length;
  const cpuBefore = await cpuSeconds(primary);
  const wallBefore = Date.now();
  process.kill(second['pid'], 'SIGKILL');
  // The kill, then four failed starts: five deaths in a row.
  const exits = await eventually('five deaths of worker 2', 60_000, async () => {
    const lines = logLines(server, 'worker exited: restarting it', from).filter((l) => l['worker'] === 2);
    return lines.length >= 5 ? lines.slice(0, 5) : undefined;
  }, 100);
  const cpuUsed = (await cpuSeconds(primary)) - cpuBefore;
  const wall = (Date.now() - wallBefore) / 1000;
  const delays = exits.map((l) => Number(l['restartInMs']));
  t.diagnostic(`restart delays ${delays.join(', ')} ms; primary CPU ${cpuUsed.toFixed(2)} s over ${wall.toFixed(1)} s`);
  assert.equal(delays[0], 0, 'the first death (the kill) is replaced at once');
  for (let i = 1; i < delays.length; i++) {
    const step = 500 * 2 ** (i - 1);
    assert.ok(delays[i]! >= step / 2 && delays[i]! <= step, `delay ${i} = ${delays[i]} ms, within [${step / 2}, ${step}]`);
    assert.ok(delays[i]! >= delays[i - 1]!, `delays grow: ${delays.join(', ')}`);
  }
  // The primary waited each delay out: the next death comes no sooner than the delay before it.
  for (let i = 1; i < exits.length; i++) {
    const gap = Date.parse(String(exits[i]!['time'])) - Date.parse(String(exits[i - 1]!['time']));
    assert.ok(gap >= delays[i - 1]!, `death ${i} came ${gap} ms after the previous one, whose restart waited ${delays[i - 1]} ms`);
  }
  assert.ok(exits.slice(1).every((l) => l['code'] === 1), `the replacements exited 1 at start: ${JSON.stringify(exits.map((l) => l['code']))}`);
  // Not spinning: the primary forks and logs five times in all this while.
  assert.ok(cpuUsed < wall * 0.2, `primary CPU ${cpuUsed} s over ${wall} s`);
  assert.equal(logLines(server, 'worker exited: restarting it', from).filter((l) => l['worker'] === 1).length, 0, 'worker 1 untouched');
  for (let i = 0; i < 5; i++) assert.equal((await rawGet(http, '/', 'plain.test')).status, 200, 'worker 1 serves throughout');

  // Startable again: the next restart (after at most the current 4 s step) serves.
  await copyFile(join(certs, 'cert.pem'), join(certs, 'cert-2.pem'));
  await server.waitForOutput(/"worker":2,"pid":\d+,"leader":false,"msg":"worker serving"/, 20_000, from);
  assert.equal((await listeningPids(http)).size, 2, 'two workers listen again');
  assert.deepEqual(await server.stop('SIGTERM', 15_000), { code: 0, signal: null });
});
