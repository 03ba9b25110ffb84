/**
 * The access log end to end inside one process: RequestHandler + AccessLogs + the real loggers,
 * over real HTTP on loopback. Entries carry Caddy's field names, a site's own `log` writes its
 * file through its filters, a bare `log NAME` goes through the process logger (so the `log`
 * global options route it by include/exclude), and `log_skip` keeps a request out.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
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
import { selfSignedFixture } from '../helpers/self-signed.ts';
import { buildGeneration, serveHttp, serveHttps } from './http/harness.ts';

const dir = await mkdtemp(join(tmpdir(), 'my-server-access-'));
const cert = selfSignedFixture('my-server-access-log-', 'a.test');
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

const proxyfile = (): string => `{
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
	respond /boom "boom" 503
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
https://a.test:8443 {
	tls ${join(cert.dir, 'cert.pem')} ${join(cert.dir, 'key.pem')}
	log {
		output file ${dir}/tls.log
		format json
	}
	respond "tls"
}
`;

let gen: Generation;
let port: number;
let tlsPort: number;

test('setup: a handler over the real access loggers', async () => {
  gen = await buildGeneration(proxyfile());
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
  const t = await serveHttps(handler, gen, 8443);
  closers.push(() => t.close());
  tlsPort = t.port;
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
  assert.equal(e['level'], 'info');

  assert.equal(await get(port, 'foo.test', '/boom'), 503);
  const boom = (await lines(join(dir, 'foo.log'), 2))[1];
  assert.equal(boom?.['status'], 503);
  assert.equal(boom?.['level'], 'error', 'a 5xx is logged at error level, as in Caddy');
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

test('over HTTP/2 and TLS: proto HTTP/2.0, the tls fields, no pseudo-headers among the headers', async () => {
  const client = http2.connect(`https://127.0.0.1:${tlsPort}`, { servername: 'a.test', rejectUnauthorized: false });
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const req = client.request({ ':path': '/h2', ':authority': 'a.test', 'user-agent': 'h2test' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.end();
    });
    assert.equal(status, 200);
  } finally {
    client.close();
  }
  const [e] = await lines(join(dir, 'tls.log'), 1);
  const request = e?.['request'] as Record<string, unknown>;
  assert.equal(request['proto'], 'HTTP/2.0');
  assert.equal(request['host'], 'a.test');
  assert.match(String(request['remote_port']), /^\d+$/);
  assert.deepEqual(request['headers'], { 'User-Agent': ['h2test'] });
  const tls = request['tls'] as Record<string, unknown>;
  assert.equal(tls['version'], 772, 'TLS 1.3 as Go numbers it');
  assert.equal(tls['proto'], 'h2');
  assert.equal(tls['server_name'], 'a.test');
  assert.match(String(tls['cipher_suite']), /^TLS_/);
  assert.equal(tls['resumed'], false);
});
