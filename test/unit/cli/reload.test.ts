/**
 * `my-server reload` against a real `my-server run`: it waits for the outcome and exits 1 when the
 * instance rejects the config (the old one keeps serving); with `admin off` it falls back to
 * SIGHUP and says it cannot confirm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, runCli, spawnCli } from '../../helpers/cli.ts';
import { loopbackGlobals } from '../../helpers/clients.ts';
import { eventually } from '../../helpers/eventually.ts';
import { freePorts } from '../../helpers/ports.ts';
import { startServer } from '../../helpers/run-server.ts';

async function body(port: number): Promise<string> {
  return fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text(), () => '');
}

const site = (port: number, text: string): string => `http://127.0.0.1:${port} {\n\trespond "${text}"\n}\n`;

test('reload waits for the new config, and exits 1 naming the cause when the instance rejects it', { timeout: 60_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort })}${site(httpPort, 'one')}`);
  t.after(() => server.close());
  assert.equal(await body(httpPort), 'one');

  await server.rewrite(`${loopbackGlobals(server, { http: httpPort, https: httpsPort })}${site(httpPort, 'two')}`);
  const ok = await runCli(['reload', '--config', server.file]);
  assert.equal(ok.code, 0, ok.stderr);
  // No polling: reload returned only once the new config was in place.
  assert.equal(await body(httpPort), 'two');

  // Valid on its own (so the local check passes), refused by the instance when applied.
  const log = '\tlog {\n\t\toutput file /proc/my-server-no-such-dir/x.log\n\t}\n';
  await server.rewrite(`${loopbackGlobals(server, { http: httpPort, https: httpsPort }, log)}${site(httpPort, 'three')}`);
  const bad = await runCli(['reload', '--config', server.file]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /^my-server reload: rejected by 127\.0\.0\.1:\d+ \(\d+\): .*\/proc\/my-server-no-such-dir\/x\.log/m);
  assert.equal(await body(httpPort), 'two', 'the old config keeps serving');
});

test('with admin off, reload sends SIGHUP to --pid / $MAINPID and says it cannot confirm', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-reload-'));
  const [httpPort] = (await freePorts(1)) as [number];
  const file = join(dir, 'Proxyfile');
  const proxyfile = (text: string): string => `{\n\tadmin off\n\thttp_port ${httpPort}\n\tdefault_bind 127.0.0.1\n\tstorage file ${join(dir, 'data')}\n}\n${site(httpPort, text)}`;
  await writeFile(file, proxyfile('one'));
  const child = spawnCli(['run', '--config', file]);
  const done = collect(child, 50_000).catch(() => undefined);
  t.after(async () => {
    child.kill('SIGKILL');
    await done;
    await rm(dir, { recursive: true, force: true });
  });
  await eventually('the admin-off instance serving', 30_000, async () => ((await body(httpPort)) === 'one' ? true : undefined), 100);

  const noPid = await runCli(['reload', '--config', file], { env: { MAINPID: '' } });
  assert.equal(noPid.code, 2);
  assert.match(noPid.stderr, /has "admin off", so there is no admin API to load it: give --pid PID/);

  await writeFile(file, proxyfile('two'));
  const viaEnv = await runCli(['reload', '--config', file], { env: { MAINPID: String(child.pid) } });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.equal(viaEnv.stderr, `my-server reload: ${file} has "admin off": sent SIGHUP to process ${child.pid}; cannot confirm the new config was applied (see that process's log)\n`);
  await eventually('the SIGHUP-reloaded body', 20_000, async () => ((await body(httpPort)) === 'two' ? true : undefined), 100);

  await writeFile(file, proxyfile('three'));
  const viaFlag = await runCli(['reload', '--config', file, '--pid', String(child.pid)], { env: { MAINPID: '' } });
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  await eventually('the second SIGHUP-reloaded body', 20_000, async () => ((await body(httpPort)) === 'three' ? true : undefined), 100);

  const notPid = await runCli(['reload', '--config', file, '--pid', 'abc']);
  assert.equal(notPid.code, 2);
  assert.match(notPid.stderr, /--pid "abc" is not a process id/);
});
