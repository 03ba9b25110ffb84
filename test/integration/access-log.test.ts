/**
 * Caddy's log configuration in a running instance: a named global logger that includes the access
 * logs (the default one excluding them), its filter, and its output file rolled at roll_size with
 * roll_keep honoured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { eventually } from '../helpers/eventually.ts';
import { globalOptions, startServer } from '../helpers/run-server.ts';
import { freePorts } from '../helpers/ports.ts';

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host: 'localhost', ...headers }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

test('log NAME { include http.log.access } takes the access log, filtered, and rolls its file at roll_size keeping roll_keep files', async (t) => {
  const [httpPort, httpsPort] = await freePorts(2);
  const server = await startServer(
    (env) => `${globalOptions(env, { http: httpPort!, https: httpsPort!, loopback: true }, `	auto_https off
	log {
		output file ${env.dir}/process.log
		format json
		exclude http.log.access
	}
	log access {
		include http.log.access
		output file ${env.dir}/access.log {
			roll_size 1MiB
			roll_keep 1
		}
		format filter {
			request>remote_ip ip_mask 8 32
			request>headers>X-Pad hash
		}
	}
`)}http://localhost:${httpPort} {
	log
	respond "ok"
}
`,
  );
  t.after(() => server.close());
  const dir = server.dir;
  assert.equal(await get(httpPort!, '/first'), 200);
  const first = await eventually('the first access line', 30_000, async () => {
    const text = await readFile(join(dir, 'access.log'), 'utf8');
    const line = text.split('\n').find((l) => l.includes('"/first"'));
    if (line === undefined) throw new Error('not yet');
    return JSON.parse(line) as { logger: string; request: { remote_ip: string; uri: string } };
  }, 100);
  assert.equal(first.logger, 'http.log.access.log0');
  assert.equal(first.request.remote_ip, '127.0.0.0');
  const processLog = await readFile(join(dir, 'process.log'), 'utf8');
  assert.match(processLog, /"msg":"serving"/);
  assert.ok(!processLog.includes('http.log.access'), 'the default logger excludes the access log');

  // Entries of about 8.5 KiB (a long query): 400 of them are over three rolls' worth of 1 MiB.
  const rolled = (): Promise<string[]> => readdir(dir).then((f) => f.filter((n) => /^access-.*\.log\.gz$/.test(n)));
  const long = 'x'.repeat(8000);
  for (let sent = 0; sent < 400; sent += 25) {
    await Promise.all(Array.from({ length: 25 }, (_, i) => get(httpPort!, `/r${sent + i}?q=${long}`, { 'x-pad': 'secret' })));
  }
  const files = await eventually('roll_keep 1 to leave one rolled file', 30_000, async () => {
    const f = await rolled();
    if (f.length !== 1) throw new Error(`rolled: ${f.join(' ')}`);
    return f;
  }, 100);
  const text = gunzipSync(await readFile(join(dir, files[0] as string))).toString();
  const entries = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { request: { headers: Record<string, string[]> } });
  assert.ok(entries.length > 100, `${entries.length} entries in the rolled file`);
  assert.equal(entries[0]?.request.headers['X-Pad']?.[0], '2bb80d53', 'the filter hashed the header (SHA-256 of "secret")');
});
