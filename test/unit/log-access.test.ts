/**
 * The access log end to end inside one process: RequestHandler + AccessLogs + the real loggers,
 * over real HTTP on loopback. Entries carry Caddy's field names, a site's own `log` writes its
 * file through its filters, a bare `log NAME` goes through the process logger (so the `log`
 * global options route it by include/exclude), and `log_skip` keeps a request out.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AccessLogs } from '../../src/app/access-log.ts';
import { listenerId, type Generation } from '../../src/app/generation.ts';
import { logOptionsFor } from '../../src/app/setup.ts';
import { RequestHandler } from '../../src/http/request-handler.ts';
import { closeLogger, createLogger } from '../../src/log.ts';
import { setVar } from '../../src/routes/context.ts';
import { buildGeneration, serveHttp } from './http/harness.ts';

const dir = await mkdtemp(join(tmpdir(), 'my-server-access-'));
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await rm(dir, { recursive: true, force: true });
});

async function lines(file: string, n: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 250; i++) {
    const got = (await readFile(file, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    if (got.length >= n) return got;
    await sleep(20);
  }
  throw new Error(`${file}: fewer than ${n} lines`);
}

function get(port: number, host: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

const proxyfile = `{
	auto_https off
	log {
		output file ${dir}/default.log
		format json
		exclude http.log.access.bar
	}
	log bars {
		include http.log.access.bar
		output file ${dir}/bars.log
		format filter {
			request>remote_ip ip_mask 16 32
			wrap json
		}
	}
}
http://foo.test:8080 {
	log {
		output file ${dir}/foo.log
		format filter {
			request>uri query {
				hash token
			}
			request>headers>User-Agent replace agent
			resp_headers delete
		}
	}
	respond "foo"
}
http://bar.test:8080 {
	log bar
	respond "bar"
}
http://baz.test:8080 {
	log
	respond "baz"
}
`;

let gen: Generation;
let port: number;

test('setup: a handler over the real access loggers', async () => {
  gen = await buildGeneration(proxyfile);
  closers.push(() => gen.close());
  const processLog = createLogger(logOptionsFor(gen.config.globals));
  const accessLogs = new AccessLogs();
  closers.push(async () => {
    accessLogs.close();
    await accessLogs.closed;
    await closeLogger(processLog);
  });
  // log_skip comes from a handler directive (log_skip/skip_log); stand in for it on /skip.
  const router = gen.tables.get(listenerId({ protocol: 'http', port: 8080 }))?.find('baz.test');
  assert.ok(router);
  const handle = router.handle.bind(router);
  router.handle = (req, res, ctx) => {
    if (ctx.path === '/skip') setVar(ctx, 'log_skip', true);
    return handle(req, res, ctx);
  };
  const handler = new RequestHandler({ generation: () => gen, http01: () => [], accessLogs, log: processLog });
  const s = await serveHttp(handler, 8080);
  closers.push(() => s.close());
  port = s.port;
});

test("a site's own log: Caddy's fields, its filters applied, credentials REDACTED", async () => {
  assert.equal(await get(port, 'foo.test', '/x?token=abc&b=1', { 'user-agent': 'curl/8', cookie: 'session=1', 'x-custom': 'v' }), 200);
  const [e] = await lines(join(dir, 'foo.log'), 1);
  assert.ok(e);
  assert.equal(e['logger'], 'http.log.access.log0');
  assert.equal(e['msg'], 'handled request');
  const request = e['request'] as Record<string, unknown>;
  assert.deepEqual(Object.keys(request), ['remote_ip', 'remote_port', 'client_ip', 'proto', 'method', 'host', 'uri', 'headers']);
  assert.equal(request['remote_ip'], '127.0.0.1');
  assert.match(String(request['remote_port']), /^\d+$/);
  assert.equal(request['client_ip'], '127.0.0.1');
  assert.equal(request['proto'], 'HTTP/1.1');
  assert.equal(request['host'], 'foo.test');
  // Query filter: keys sorted, token hashed (first 4 bytes of SHA-256 of "abc").
  assert.equal(request['uri'], '/x?b=1&token=ba7816bf');
  const headers = request['headers'] as Record<string, unknown>;
  assert.deepEqual(headers['User-Agent'], 'agent');
  assert.deepEqual(headers['Cookie'], ['REDACTED']);
  assert.deepEqual(headers['X-Custom'], ['v']);
  assert.equal(headers['Host'], undefined, 'Host is the host field, not a header, as in Caddy');
  assert.equal(e['status'], 200);
  assert.equal(e['size'], 3);
  assert.equal(typeof e['duration'], 'number');
  assert.equal(e['user_id'], '');
  assert.equal(e['resp_headers'], undefined, 'resp_headers deleted by the filter');
});

test('bare `log NAME` and `log` go through the global loggers: include/exclude route them, each output with its own filter', async () => {
  assert.equal(await get(port, 'bar.test', '/b'), 200);
  assert.equal(await get(port, 'baz.test', '/z'), 200);
  const [bar] = await lines(join(dir, 'bars.log'), 1);
  assert.equal(bar?.['logger'], 'http.log.access.bar');
  assert.equal((bar?.['request'] as Record<string, unknown>)['remote_ip'], '127.0.0.0', 'the bars logger masks the address');
  const defaults = await lines(join(dir, 'default.log'), 1);
  const baz = defaults.find((l) => (l['request'] as { host?: string } | undefined)?.host === 'baz.test');
  // baz is the second site whose log has no name: log1.
  assert.equal(baz?.['logger'], 'http.log.access.log1');
  assert.equal((baz?.['request'] as Record<string, unknown>)['remote_ip'], '127.0.0.1', 'the default logger has no filter');
  assert.ok(!defaults.some((l) => String(l['logger']).startsWith('http.log.access.bar')), 'default excludes http.log.access.bar');
  assert.equal((await lines(join(dir, 'bars.log'), 1)).length, 1, 'bars includes only bar');
});

test('log_skip set by a handler keeps the request out of the access log', async () => {
  assert.equal(await get(port, 'baz.test', '/skip'), 200);
  assert.equal(await get(port, 'baz.test', '/after-skip'), 200);
  const all = await lines(join(dir, 'default.log'), 2);
  const uris = all.map((l) => (l['request'] as { uri?: string } | undefined)?.uri).filter((u) => u !== undefined);
  assert.ok(uris.includes('/after-skip'), uris.join(' '));
  assert.ok(!uris.includes('/skip'), 'the skipped request is not logged');
});
