/**
 * `run --watch` with `workers 2`: the primary watches the config and reloads every worker through
 * the same all-or-none fan-out as SIGHUP; no worker reloads on its own. Which worker answered a
 * connection is read from the kernel (`ss -tnp`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loopbackGlobals } from '../helpers/clients.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer, type RunningServer, type ServerEnv } from '../helpers/run-server.ts';
import { serverPids } from '../helpers/cluster.ts';

const run = promisify(execFile);

/** One kept-alive connection's answer to GET / for plain.test: [client port, body]. */
function ask(port: number): Promise<{ socket: net.Socket; localPort: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        const end = got.indexOf('\r\n\r\n');
        const m = /\r\ncontent-length: *(\d+)/i.exec(got.slice(0, end));
        if (end >= 0 && m && got.length >= end + 4 + Number(m[1])) resolve({ socket, localPort: socket.localPort ?? 0, body: got.slice(end + 4, end + 4 + Number(m[1])) });
      });
      socket.write('GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n');
    });
    socket.on('error', reject);
  });
}

/** The bodies 16 new connections got, by the pid that served each. */
async function answers(port: number): Promise<Map<number, Set<string>>> {
  const got = await Promise.all(Array.from({ length: 16 }, () => ask(port)));
  try {
    const owners = await serverPids(port);
    const out = new Map<number, Set<string>>();
    for (const g of got) {
      const pid = owners.get(g.localPort) ?? 0;
      out.set(pid, (out.get(pid) ?? new Set()).add(g.body));
    }
    return out;
  } finally {
    got.forEach((g) => g.socket.destroy());
  }
}

function lines(server: RunningServer, msg: string, from = 0): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of server.output().slice(from).split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the chunk boundary
    }
  }
  return out;
}

function config(ports: { http: number; https: number }, body: string, extra = '') {
  return (env: ServerEnv): string => `${loopbackGlobals(env, ports, '\tworkers 2\n')}
http://plain.test:${ports.http} {
	respond "${body}"
}
${extra}`;
}

test('workers 2 + --watch: a save reloads every worker through the primary; one a follower cannot build leaves all on the old config', { timeout: 120_000 }, async (t) => {
  const [http, https] = await freePorts(2);
  assert.ok(http && https);
  let env: ServerEnv | undefined;
  const server = await startServer((e) => {
    env = e;
    return config({ http, https }, 'v1')(e);
  }, { args: ['--watch'] });
  t.after(() => server.close());
  assert.ok(env);
  await eventually('both workers serving', 30_000, async () => (lines(server, 'worker serving').length >= 2 ? true : undefined), 50);
  await server.waitForOutput(/"msg":"watching config for changes"/, 20_000);
  const watching = lines(server, 'watching config for changes');
  assert.deepEqual(watching.map((l) => l['worker']), [undefined], `only the primary watches the config: ${JSON.stringify(watching)}`);
  const all = async (body: string): Promise<boolean> => {
    const got = await answers(http);
    return got.size === 2 && [...got.values()].every((b) => b.size === 1 && b.has(body));
  };
  assert.ok(await all('v1'));

  let from = server.output().length;
  await server.rewrite(config({ http, https }, 'v2')(env));
  await eventually('both workers reloaded', 20_000, async () => (lines(server, 'config reloaded', from).length >= 2 ? true : undefined), 50);
  assert.ok(await all('v2'), 'both workers answer v2 after the save');
  const reloading = lines(server, 'reloading config', from);
  assert.deepEqual(reloading.map((l) => [l['worker'], l['trigger']]), [[undefined, 'watch']], `one reload, by the primary: ${JSON.stringify(reloading)}`);
  assert.deepEqual(lines(server, 'config reloaded', from).map((l) => l['worker']).sort(), [1, 2]);

  // A certificate only worker 1 finds (each reads cert-<its id>.pem): the leader applies the
  // save, worker 2 fails, and the leader goes back.
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=b.test',
    '-addext', 'subjectAltName=DNS:b.test', '-keyout', join(server.dir, 'key-1.pem'), '-out', join(server.dir, 'cert-1.pem')]);
  from = server.output().length;
  await server.rewrite(config({ http, https }, 'v3', `b.test {
	tls ${join(server.dir, 'cert-{$MY_SERVER_WORKER_ID}.pem')} ${join(server.dir, 'key-{$MY_SERVER_WORKER_ID}.pem')}
	respond "b"
}
`)(env));
  await server.waitForOutput(/"msg":"reload \(watch\) rejected, every worker keeps the running config: worker 2: [^\n]*cert-2\.pem/, 20_000, from);
  await server.waitForOutput(/"worker":1[^\n]*"msg":"reload failed in another worker: back on the previous config"/, 10_000, from);
  assert.ok(await all('v2'), 'both workers still answer v2');
  assert.equal(lines(server, 'reloading config', from).length, 1, 'still one reload per save, the primary\'s');

  // The next good save applies everywhere again, and the primary exits cleanly with its watcher.
  from = server.output().length;
  await server.rewrite(config({ http, https }, 'v4')(env));
  await eventually('both workers reloaded', 20_000, async () => (lines(server, 'config reloaded', from).length >= 2 ? true : undefined), 50);
  assert.ok(await all('v4'), 'both workers answer v4');

  // A save that imports another file: the primary watches that file from then on.
  const imported = join(server.dir, 'site.conf');
  await writeFile(imported, 'respond "v5"\n');
  from = server.output().length;
  await server.rewrite(`${loopbackGlobals(env, { http, https }, '\tworkers 2\n')}
http://plain.test:${http} {
	import ${imported}
}
`);
  await server.waitForOutput(/"msg":"watching config for changes"/, 20_000, from);
  assert.ok(await all('v5'), 'both workers answer v5 from the imported file');
  from = server.output().length;
  await writeFile(imported, 'respond "v6"\n');
  await eventually('both workers reloaded after the imported file changed', 20_000, async () => (lines(server, 'config reloaded', from).length >= 2 ? true : undefined), 50);
  assert.ok(await all('v6'), 'both workers answer v6');
  assert.deepEqual(await server.stop('SIGTERM', 15_000), { code: 0, signal: null });
});
