/**
 * `my-server health` against a real `my-server run`: the admin API's /health, or with `admin off`
 * every listener; a stopped (SIGSTOP) process is unhealthy although the kernel still accepts TCP
 * connections for it, and a stopped server is unhealthy at once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, runCli, spawnCli, tempProxyfile } from '../helpers/cli.ts';
import { freePorts } from '../helpers/ports.ts';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** `my-server run` on `text`, resolved once it logs "serving". */
async function serve(text: string): Promise<{ file: string; pid: number; stop(): Promise<number | null> }> {
  const tmp = await tempProxyfile(text);
  cleanups.push(() => tmp.remove());
  const child = spawnCli(['run', '--config', tmp.file], { env: { MY_SERVER_STORAGE: `${tmp.dir}/data` } });
  const done = collect(child, 120_000);
  cleanups.push(async () => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await done.catch(() => undefined);
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const look = (d: Buffer): void => {
      output += d.toString('utf8');
      if (output.includes('"msg":"serving"')) resolve();
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    void done.then((r) => reject(new Error(`exited (${r.code ?? r.signal}):\n${output}`)), reject);
  });
  return { file: tmp.file, pid: child.pid ?? 0, stop: async () => (child.kill('SIGTERM'), (await done).code) };
}

test('admin off: every listener is probed (HTTP answers HEAD, HTTPS answers a ClientHello); a stopped process is unhealthy, a resumed one healthy again', { timeout: 120_000 }, async () => {
  const [http, https] = (await freePorts(2)) as [number, number];
  const server = await serve(`{\n\tadmin off\n\tdefault_bind 127.0.0.1\n\thttp_port ${http}\n\thttps_port ${https}\n\tlocal_certs\n}\n\nhttp://127.0.0.1:${http} {\n\trespond "ok"\n}\n\nlocalhost {\n\trespond "tls"\n}\n`);
  const ok = await runCli(['health', '--config', server.file]);
  assert.deepEqual({ code: ok.code, stdout: ok.stdout, stderr: ok.stderr }, { code: 0, stdout: `healthy: http listener 127.0.0.1:${http}, https listener 127.0.0.1:${https}\n`, stderr: '' });

  // The kernel still completes TCP handshakes for a stopped process: only an answer counts.
  process.kill(server.pid, 'SIGSTOP');
  const stuck = await runCli(['health', '--config', server.file, '--timeout', '1']);
  process.kill(server.pid, 'SIGCONT');
  assert.equal(stuck.code, 1);
  assert.match(stuck.stderr, new RegExp(`http listener 127\\.0\\.0\\.1:${http}: no HTTP answer within 1000 ms`));
  assert.match(stuck.stderr, new RegExp(`https listener 127\\.0\\.0\\.1:${https}: no TLS answer within 1000 ms`));
  assert.equal((await runCli(['health', '--config', server.file])).code, 0);

  assert.equal(await server.stop(), 0);
  const down = await runCli(['health', '--config', server.file]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /ECONNREFUSED/);
});

test('admin on: GET /health of the admin address in the config; --url checks a URL of choice (2xx/3xx healthy)', { timeout: 120_000 }, async () => {
  const [http, https, admin] = (await freePorts(3)) as [number, number, number];
  const server = await serve(`{\n\tadmin 127.0.0.1:${admin}\n\tdefault_bind 127.0.0.1\n\thttp_port ${http}\n\thttps_port ${https}\n}\n\nhttp://127.0.0.1:${http} {\n\trespond /missing 404\n\trespond "ok"\n}\n`);
  const ok = await runCli(['health', '--config', server.file]);
  assert.deepEqual({ code: ok.code, stdout: ok.stdout }, { code: 0, stdout: `healthy: admin API 127.0.0.1:${admin}\n` });
  process.kill(server.pid, 'SIGSTOP');
  const stuck = await runCli(['health', '--config', server.file, '--timeout', '1']);
  process.kill(server.pid, 'SIGCONT');
  assert.equal(stuck.code, 1);
  assert.match(stuck.stderr, /admin API 127\.0\.0\.1:\d+: no answer within 1000 ms/);
  // --address needs no config (SPEC's form, as reload --address).
  const direct = await runCli(['health', '--address', `127.0.0.1:${admin}`], { cwd: '/' });
  assert.deepEqual({ code: direct.code, stdout: direct.stdout }, { code: 0, stdout: `healthy: admin API 127.0.0.1:${admin}\n` });
  assert.equal((await runCli(['health', '--address', 'nonsense'])).code, 2);

  assert.equal((await runCli(['health', '--url', `http://127.0.0.1:${http}/`])).code, 0);
  const missing = await runCli(['health', '--url', `http://127.0.0.1:${http}/missing`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\/missing: answered 404/);
  assert.equal((await runCli(['health', '--url', 'ftp://x/'])).code, 2);
  assert.equal(await server.stop(), 0);
});
