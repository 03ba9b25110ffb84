/**
 * `my-server run` applies its V8 flags itself (src/cli/node-flags.ts): the decision is unit-tested
 * here, the re-exec end to end on a real `run` process (same PID, flag on its command line, SIGTERM
 * still exits 0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { missingNodeFlags, reexecArgs, RUN_NODE_FLAGS } from '../../../src/cli/node-flags.ts';
import { startServer } from '../../helpers/run-server.ts';
import { freePorts } from '../../helpers/ports.ts';
import { loopbackGlobals } from '../../helpers/clients.ts';

const base = { execPath: '/usr/bin/node', execArgv: [] as string[], env: {}, isSea: false };

test('run re-executes with the flags before its own node arguments and the script', () => {
  assert.deepEqual(reexecArgs({ ...base, argv: ['/usr/bin/node', '/app/main.js', 'run', '--config', 'P'], execArgv: ['--enable-source-maps'] }), [
    '/usr/bin/node',
    ...RUN_NODE_FLAGS,
    '--enable-source-maps',
    '/app/main.js',
    'run',
    '--config',
    'P',
  ]);
});

test('no re-exec for other commands, a re-executed image, a single executable, or flags already given', () => {
  const argv = ['/usr/bin/node', '/app/main.js', 'run'];
  assert.equal(reexecArgs({ ...base, argv: ['/usr/bin/node', '/app/main.js', 'version'] }), undefined);
  assert.equal(reexecArgs({ ...base, argv, env: { MY_SERVER_NODE_FLAGS_APPLIED: '1' } }), undefined);
  assert.equal(reexecArgs({ ...base, argv, isSea: true }), undefined);
  assert.equal(reexecArgs({ ...base, argv, execArgv: ['--max-semi-space-size=8'] }), undefined);
  // The user's own value wins, on the command line or in NODE_OPTIONS, in either spelling.
  assert.equal(reexecArgs({ ...base, argv, execArgv: ['--max_semi_space_size=32'] }), undefined);
  assert.equal(reexecArgs({ ...base, argv, env: { NODE_OPTIONS: '--trace-warnings --max-semi-space-size=16' } }), undefined);
  assert.deepEqual(missingNodeFlags(['--max-semi-space-size=8'], ['--max-old-space-size=100'], '--max-semi-space-sizes'), ['--max-semi-space-size=8']);
});

async function cmdline(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
}

test('a started `run` is the same process with the flag on its command line, and SIGTERM still exits 0', { timeout: 90_000 }, async (t) => {
  const [http, https, site] = (await freePorts(3)) as [number, number, number];
  const server = await startServer((env) => `${loopbackGlobals(env, { http, https })}\nhttp://127.0.0.1:${site} {\n\trespond "ok"\n}\n`);
  t.after(() => server.close());
  const pid = server.child.pid!;
  const args = await cmdline(pid);
  assert.deepEqual(args.slice(1, 1 + RUN_NODE_FLAGS.length), [...RUN_NODE_FLAGS], args.join(' '));
  assert.equal((await fetch(`http://127.0.0.1:${site}/`).then((r) => r.text())), 'ok');
  server.child.kill('SIGTERM');
  assert.deepEqual(await server.waitForExit(20_000), { code: 0, signal: null }, server.stderr());
});

test('a flag value given in NODE_OPTIONS is kept: no re-exec', { timeout: 90_000 }, async (t) => {
  const [http, https, site] = (await freePorts(3)) as [number, number, number];
  const server = await startServer((env) => `${loopbackGlobals(env, { http, https })}\nhttp://127.0.0.1:${site} {\n\trespond "ok"\n}\n`, {
    env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=16' },
  });
  t.after(() => server.close());
  const args = await cmdline(server.child.pid!);
  assert.ok(!args.some((a) => a.startsWith('--max-semi-space-size')), args.join(' '));
});
