/**
 * `my-server run` end to end, proxy and reload side: the real CLI as a child process, real
 * node:http upstreams on 127.0.0.1:0, real clients (node:http, curl, the global WebSocket).
 *
 * One shared instance serves the read-only cases (forwarding, errors, lb policies, health checks,
 * retries, SSE, routes, HTTPS/2, admin); cases that reload or stop the process start their own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { globalOptions, startServer, type RunningServer, type ServerEnv } from '../helpers/run-server.ts';
import { wsEchoUpstream } from '../helpers/ws-echo.ts';

const execFileP = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Upstreams and clients

interface Upstream {
  readonly port: number;
  readonly address: string;
  /** Request targets received, in order. */
  readonly hits: string[];
  /** Responses of /hold requests, answered only by release(). */
  readonly held: http.ServerResponse[];
  release(): void;
  close(): Promise<void>;
}

async function startUpstream(handler: (req: http.IncomingMessage, res: http.ServerResponse, up: Upstream) => void, port = 0): Promise<Upstream & { server: http.Server }> {
  const hits: string[] = [];
  const held: http.ServerResponse[] = [];
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const up = {
    server,
    port: bound,
    address: `127.0.0.1:${bound}`,
    hits,
    held,
    release: () => {
      for (const res of held.splice(0)) res.end('released');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    hits.push(req.url ?? '');
    handler(req, res, up);
  });
  return up;
}

/** Answers its `id` (or holds /hold until release()); /health is 200 for active checks. */
function idUpstream(id: string, port = 0): Promise<Upstream & { server: http.Server }> {
  return startUpstream((req, res, up) => {
    if (req.url === '/hold') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`${id} held\n`);
      up.held.push(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(req.url === '/health' ? 'ok' : id);
  }, port);
}

const BIG_BODY = 'abcdefghijklmnopqrstuvwxyz012345'.repeat(64); // 2 KiB of compressible text

/**
 * /sse: two events 1 s apart; /big: 2 KiB text; /hang: never answers; /slow: answers after 2 s;
 * anything else: the request as JSON (method, url, httpVersion, headers, rawHeaders).
 * Every answer carries X-Upstream-Secret, for the `header -NAME` case.
 */
function echoUpstream(): Promise<Upstream & { server: http.Server }> {
  return startUpstream((req, res) => {
    res.setHeader('x-upstream-secret', 'from-upstream');
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: 1\n\n');
      const timer = setTimeout(() => res.end('data: 2\n\n'), 1000);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    if (path === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(BIG_BODY) }).end(BIG_BODY);
      return;
    }
    if (path === '/hang') return;
    if (path === '/slow') {
      const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow done'), 2000);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    const body = JSON.stringify({ method: req.method, url: req.url, httpVersion: req.httpVersion, headers: req.headers, rawHeaders: req.rawHeaders });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
}

interface Echoed {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
}

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The client's local port: the same value twice means the same connection. */
  readonly localPort: number | undefined;
}

interface RequestOptions {
  readonly method?: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: string;
  readonly localAddress?: string;
  readonly agent?: http.Agent;
  readonly timeoutMs?: number;
}

/** One HTTP/1.1 request; a fresh connection unless an agent is given. Rejects on network errors. */
function request(url: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: o.method ?? 'GET',
        headers: o.headers ?? {},
        agent: o.agent ?? false,
        signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
        ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}),
      },
      (res) => {
        let body = '';
        const localPort = res.socket.localPort;
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, localPort }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

async function curl(args: readonly string[]): Promise<string> {
  const { stdout } = await execFileP('curl', ['-sS', '--max-time', '20', ...args], { encoding: 'utf8' });
  return stdout;
}

function globals(env: ServerEnv, ports: { http: number; https: number }, extra = ''): string {
  return globalOptions(env, { ...ports, gracePeriod: '5s' }, extra);
}

// ---------------------------------------------------------------------------------------------
// The shared instance

const SITES = ['fwd', 'down', 'hang', 'rr', 'first', 'random', 'leastConn', 'ipHash', 'uriHash', 'header', 'retry', 'health', 'routes', 'counted'] as const;
type SiteName = (typeof SITES)[number];

interface Shared {
  server: RunningServer;
  url: Record<SiteName, string>;
  httpsPort: number;
  echo: Upstream;
  ids: [Upstream, Upstream, Upstream];
  /** Health-checked upstreams; h1 is stopped and restarted by its test. */
  h1: Upstream & { server: http.Server };
  h2: Upstream;
  closedPort: number;
}

let shared: Shared | undefined;
const cleanups: (() => Promise<void>)[] = [];

function s(): Shared {
  assert.ok(shared, 'the shared my-server instance is running');
  return shared;
}

before(async () => {
  const echo = await echoUpstream();
  cleanups.push(() => echo.close());
  const ids = [await idUpstream('A'), await idUpstream('B'), await idUpstream('C')] as [Upstream, Upstream, Upstream];
  const h1 = await idUpstream('H1');
  const h2 = await idUpstream('H2');
  for (const u of [...ids, h2]) cleanups.push(() => u.close());
  cleanups.push(() => shared?.h1.close() ?? Promise.resolve());
  const [httpPort, httpsPort, closedPort, ...sitePorts] = await freePorts(3 + SITES.length);
  const port = Object.fromEntries(SITES.map((name, i) => [name, sitePorts[i]!])) as Record<SiteName, number>;
  const abc = ids.map((u) => u.address).join(' ');
  const lb = (name: SiteName, policy: string): string => `http://127.0.0.1:${port[name]} {
	reverse_proxy ${abc} {
		lb_policy ${policy}
	}
}
`;
  const server = await startServer(
    (env) =>
      globals(env, { http: httpPort!, https: httpsPort! }, '\tlocal_certs\n') +
      `http://127.0.0.1:${port.fwd} {
	reverse_proxy ${echo.address}
}
http://127.0.0.1:${port.down} {
	reverse_proxy 127.0.0.1:${closedPort}
}
http://127.0.0.1:${port.hang} {
	reverse_proxy ${echo.address} {
		transport http {
			response_header_timeout 500ms
		}
	}
}
${lb('rr', 'round_robin')}${lb('first', 'first')}${lb('random', 'random')}${lb('leastConn', 'least_conn')}${lb('ipHash', 'ip_hash')}${lb('uriHash', 'uri_hash')}${lb('header', 'header X-User')}
http://127.0.0.1:${port.retry} {
	reverse_proxy 127.0.0.1:${closedPort} ${ids[0].address} {
		lb_policy first
		lb_try_duration 2s
	}
}
http://127.0.0.1:${port.health} {
	reverse_proxy ${h1.address} ${h2.address} {
		lb_policy round_robin
		health_uri /health
		health_interval 200ms
		health_timeout 1s
	}
}
http://127.0.0.1:${port.routes} {
	encode gzip
	header X-Frame-Options DENY
	header -X-Upstream-Secret
	redir /old /new 301
	respond /small "0123456789"
	handle_path /api/* {
		reverse_proxy ${echo.address}
	}
	respond "fallback"
}
http://127.0.0.1:${port.counted} {
	respond "counted"
}
localhost {
	reverse_proxy ${echo.address}
}
`,
  );
  cleanups.push(() => server.close());
  const url = Object.fromEntries(SITES.map((name) => [name, `http://127.0.0.1:${port[name]}`])) as Record<SiteName, string>;
  shared = { server, url, httpsPort: httpsPort!, echo, ids, h1, h2, closedPort: closedPort! };
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

// ---------------------------------------------------------------------------------------------
// 1. Forwarding headers

test('upstream gets the proxy’s X-Forwarded-* (spoofed ones replaced), the original Host, and no hop-by-hop headers', async () => {
  const { url } = s();
  const hostport = url.fwd.slice('http://'.length);
  const res = await request(`${url.fwd}/headers?x=1`, {
    headers: {
      'X-Forwarded-For': '6.6.6.6',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Host': 'evil.example',
      Connection: 'X-Custom',
      'X-Custom': 'hop-secret',
      'Keep-Alive': 'timeout=5',
      'X-Normal': 'kept',
    },
  });
  assert.equal(res.status, 200, res.body);
  const seen = JSON.parse(res.body) as Echoed;
  assert.equal(seen.url, '/headers?x=1');
  assert.equal(seen.headers['x-normal'], 'kept', 'end-to-end headers are forwarded');
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['x-forwarded-host'], hostport);
  assert.equal(seen.headers.host, hostport);
  assert.equal(seen.headers['x-custom'], undefined, 'a header named in Connection is hop-by-hop');
  assert.equal(seen.headers['keep-alive'], undefined);
  const raw = seen.rawHeaders.join('\n');
  assert.doesNotMatch(raw, /6\.6\.6\.6|evil\.example|hop-secret/, 'no trace of the client’s spoofed or hop-by-hop values');
});

// ---------------------------------------------------------------------------------------------
// 2. Upstream errors

test('an unreachable upstream gives 502 with a short text/plain body and a log line naming its address', async () => {
  const { url, server, closedPort } = s();
  const res = await request(`${url.down}/x`);
  assert.equal(res.status, 502);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  assert.ok(res.body.length > 0 && res.body.length < 200, `short body: ${JSON.stringify(res.body)}`);
  assert.doesNotMatch(res.body, /\n\s+at /, 'no stack trace');
  await server.waitForOutput(new RegExp(`127\\.0\\.0\\.1:${closedPort}`), 5_000);
});

test('an upstream that does not answer within response_header_timeout gives 504 with a short text/plain body', async () => {
  const { url } = s();
  const started = Date.now();
  const res = await request(`${url.hang}/hang`);
  const elapsed = Date.now() - started;
  assert.equal(res.status, 504, res.body);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  assert.ok(res.body.length > 0 && res.body.length < 200, `short body: ${JSON.stringify(res.body)}`);
  assert.ok(elapsed >= 400 && elapsed < 5_000, `answered after the 500ms timeout, not much later (${elapsed} ms)`);
});

// ---------------------------------------------------------------------------------------------
// 3. Load-balancing policies

async function bodies(target: string, n: number, o: RequestOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(target, o);
    assert.equal(res.status, 200, res.body);
    out.push(res.body);
  }
  return out;
}

test('lb_policy round_robin cycles through the upstreams in order', async () => {
  const seq = await bodies(s().url.rr, 7);
  const order = ['A', 'B', 'C'];
  for (let i = 1; i < seq.length; i++) {
    assert.equal(seq[i], order[(order.indexOf(seq[i - 1]!) + 1) % 3], `sequence ${seq.join(',')}`);
  }
});

test('lb_policy first always picks the first upstream', async () => {
  assert.deepEqual(await bodies(s().url.first, 6), ['A', 'A', 'A', 'A', 'A', 'A']);
});

test('lb_policy random reaches every upstream within 40 requests', async () => {
  // Missing one of three in 40 uniform draws: 3·(2/3)^40 ≈ 3e-7.
  const seen = new Set(await bodies(s().url.random, 40));
  assert.deepEqual([...seen].sort(), ['A', 'B', 'C']);
});

test('lb_policy least_conn sends new requests to the upstream with nothing in flight', async (t) => {
  const { url, ids } = s();
  t.after(() => ids.forEach((u) => u.release()));
  const holds = [request(`${url.leastConn}/hold`, { timeoutMs: 30_000 }), undefined] as (Promise<Reply> | undefined)[];
  await eventually('the first held request reaches an upstream', 5_000, () => Promise.resolve(ids.some((u) => u.held.length === 1) ? true : undefined), 20);
  holds[1] = request(`${url.leastConn}/hold`, { timeoutMs: 30_000 });
  await eventually('the second held request reaches an upstream', 5_000, () => Promise.resolve(ids.filter((u) => u.held.length > 0).length === 2 ? true : undefined), 20);
  assert.ok(ids.every((u) => u.held.length <= 1), 'the second request went to an idle upstream, not the busy one');
  const idle = ['A', 'B', 'C'][ids.findIndex((u) => u.held.length === 0)];
  // Random choice would send all ten to the idle one with probability (1/3)^10.
  assert.deepEqual(await bodies(url.leastConn, 10), Array<string>(10).fill(idle!));
  for (const u of ids) u.release();
  for (const h of holds) assert.equal((await h)?.status, 200);
});

async function stickiness(site: string, keyed: (i: number) => { path?: string; o?: RequestOptions }): Promise<void> {
  const chosen: string[] = [];
  for (let i = 0; i < 40; i++) {
    const { path = '/', o = {} } = keyed(i);
    const [first, ...rest] = await bodies(`${site}${path}`, 3, o);
    assert.deepEqual(rest, [first, first], `key #${i} sticks to one upstream`);
    chosen.push(first!);
  }
  // A hash that ignores the key would put all 40 on one upstream; a good one misses one of three
  // with probability ≈ 3·(2/3)^40.
  assert.deepEqual([...new Set(chosen)].sort(), ['A', 'B', 'C'], `spread: ${chosen.join('')}`);
}

test('lb_policy ip_hash keeps a client IP on one upstream and spreads different IPs', async () => {
  await stickiness(s().url.ipHash, (i) => ({ o: { localAddress: `127.0.0.${i + 1}` } }));
});

test('lb_policy uri_hash keeps a URI on one upstream and spreads different URIs', async () => {
  await stickiness(s().url.uriHash, (i) => ({ path: `/item/${i}` }));
});

test('lb_policy header X-User keeps a header value on one upstream and spreads different values', async () => {
  await stickiness(s().url.header, (i) => ({ o: { headers: { 'X-User': `user-${i}` } } }));
});

// ---------------------------------------------------------------------------------------------
// 4. Active health checks

test('active health checks take a dead upstream out of rotation and bring it back when it recovers', async () => {
  const sh = s();
  const target = `${sh.url.health}/x`;
  assert.deepEqual(new Set(await bodies(target, 4)), new Set(['H1', 'H2']), 'both upstreams serve at first');
  const port = sh.h1.port;
  await sh.h1.close();
  // Round robin over a dead H1 that is still "available" fails every other request: six 200s from
  // H2 in a row means the checker marked H1 down.
  let streak = 0;
  await eventually('H1 taken out of rotation', 5_000, async () => {
    const res = await request(target);
    streak = res.status === 200 && res.body === 'H2' ? streak + 1 : 0;
    return streak >= 6 ? true : undefined;
  }, 20);
  const down = await Promise.all(Array.from({ length: 8 }, () => request(target)));
  assert.deepEqual(down.map((r) => `${r.status} ${r.body}`), Array<string>(8).fill('200 H2'));

  sh.h1 = await idUpstream('H1', port);
  await eventually('H1 back in rotation', 5_000, async () => ((await request(target)).body === 'H1' ? true : undefined), 50);
  assert.deepEqual(new Set(await bodies(target, 4)), new Set(['H1', 'H2']));
});

// ---------------------------------------------------------------------------------------------
// 5. Retries

test('lb_try_duration retries a request whose first upstream refuses connections on the next one', async () => {
  const { url, ids } = s();
  const before = ids[0].hits.length;
  const started = Date.now();
  const res = await request(`${url.retry}/retried`);
  assert.equal(res.status, 200, res.body);
  assert.equal(res.body, 'A');
  assert.equal(ids[0].hits.length, before + 1);
  assert.equal(ids[0].hits.at(-1), '/retried');
  assert.ok(Date.now() - started < 2_000, 'answered before lb_try_duration ran out');
});

// ---------------------------------------------------------------------------------------------
// 6. Server-sent events

test('a server-sent event reaches the client before the upstream has finished the stream', async () => {
  const got = await new Promise<{ firstAt: number; endAt: number; first: string; all: string; type: string }>((resolve, reject) => {
    let first: { at: number; text: string } | undefined;
    let all = '';
    const req = http.get(`${s().url.fwd}/sse`, { agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        all += d;
        first ??= { at: Date.now(), text: all };
      });
      res.on('end', () => resolve({ firstAt: first?.at ?? 0, endAt: Date.now(), first: first?.text ?? '', all, type: String(res.headers['content-type']) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  assert.match(got.type, /^text\/event-stream/);
  assert.match(got.first, /^data: 1\n/);
  assert.doesNotMatch(got.first, /data: 2/);
  assert.equal(got.all, 'data: 1\n\ndata: 2\n\n');
  assert.ok(got.endAt - got.firstAt >= 700, `first event ${got.endAt - got.firstAt} ms before the end (upstream waits 1 s)`);
});

// ---------------------------------------------------------------------------------------------
// 11. Routes: handle_path, redir, respond, header, encode

test('handle_path strips its prefix before proxying, keeping the query', async () => {
  const res = await request(`${s().url.routes}/api/items/7?full=1`);
  assert.equal(res.status, 200, res.body);
  assert.equal((JSON.parse(res.body) as Echoed).url, '/items/7?full=1');
  const other = await request(`${s().url.routes}/elsewhere`);
  assert.equal(other.body, 'fallback', 'paths outside the prefix are not proxied');
});

test('redir answers with its status and Location; respond with its body', async () => {
  const { url } = s();
  const r = await request(`${url.routes}/old`);
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, '/new');
  const small = await request(`${url.routes}/small`);
  assert.equal(small.status, 200);
  assert.equal(small.body, '0123456789');
});

test('header sets and deletes response headers, including ones the upstream sent', async () => {
  const { url } = s();
  const direct = await request(`${url.fwd}/h`);
  assert.equal(direct.headers['x-upstream-secret'], 'from-upstream', 'control: the upstream sends the header');
  const res = await request(`${url.routes}/api/h`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-frame-options'], 'DENY');
  assert.equal(res.headers['x-upstream-secret'], undefined);
  const local = await request(`${url.routes}/small`);
  assert.equal(local.headers['x-frame-options'], 'DENY', 'also on responses the server writes itself');
});

test('encode gzip compresses a 2 KiB text body for a client that accepts gzip, not a 10-byte one', async () => {
  const { url, server } = s();
  const headersFile = join(server.dir, 'curl-headers.txt');
  const big = await curl(['--compressed', '-D', headersFile, `${url.routes}/api/big`]);
  assert.equal(big, BIG_BODY);
  assert.match(await readFile(headersFile, 'utf8'), /^content-encoding: gzip\r?$/im);
  const small = await curl(['--compressed', '-D', headersFile, `${url.routes}/small`]);
  assert.equal(small, '0123456789');
  assert.doesNotMatch(await readFile(headersFile, 'utf8'), /^content-encoding:/im);
  const plain = await curl(['-D', headersFile, `${url.routes}/api/big`]);
  assert.equal(plain, BIG_BODY);
  assert.doesNotMatch(await readFile(headersFile, 'utf8'), /^content-encoding:/im, 'not for a client that does not accept it');
});

// ---------------------------------------------------------------------------------------------
// 12. HTTPS + HTTP/2 with the local CA

async function localRoot(server: RunningServer): Promise<string> {
  const file = join(server.storage, 'pki', 'local', 'root.crt');
  await eventually('the local CA root in storage', 20_000, () => access(file).then(() => true));
  return file;
}

test('an HTTP/2 client over HTTPS (local CA) is proxied to an HTTP/1.1 upstream', async () => {
  const { server, httpsPort } = s();
  const root = await localRoot(server);
  const out = await curl([
    '--http2',
    '--cacert',
    root,
    '--resolve',
    `localhost:${httpsPort}:127.0.0.1`,
    '-i',
    `https://localhost:${httpsPort}/over-h2`,
  ]);
  const [head = '', body = ''] = out.split(/\r?\n\r?\n/, 2);
  assert.match(head, /^HTTP\/2 200/, head);
  const seen = JSON.parse(body) as Echoed;
  assert.equal(seen.httpVersion, '1.1');
  assert.equal(seen.url, '/over-h2');
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(seen.headers.host, `localhost:${httpsPort}`);
  assert.equal(seen.headers['x-forwarded-host'], `localhost:${httpsPort}`);
});

// ---------------------------------------------------------------------------------------------
// 13. Admin API

async function requestsTotal(adminUrl: string, site: string): Promise<number> {
  const res = await request(`${adminUrl}/metrics`);
  assert.equal(res.status, 200);
  let total = 0;
  for (const line of res.body.split('\n')) {
    if (line.startsWith('my_server_requests_total{') && line.includes(`site="${site}"`) && line.includes('code="200"')) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

test('GET /metrics counts requests in my_server_requests_total by site', async () => {
  const { server, url } = s();
  const before = await requestsTotal(server.adminUrl, url.counted);
  assert.deepEqual(await bodies(url.counted, 3), ['counted', 'counted', 'counted']);
  // Counted when each response closes, a moment after the client has it.
  await eventually('three more requests counted', 3_000, async () => ((await requestsTotal(server.adminUrl, url.counted)) === before + 3 ? true : undefined));
});

test('GET /certificates lists localhost once its local certificate is issued', async () => {
  const { server } = s();
  const list = await eventually('localhost in /certificates', 20_000, async () => {
    const res = await request(`${server.adminUrl}/certificates`);
    assert.equal(res.status, 200);
    const entries = JSON.parse(res.body) as { names?: string[]; issuer?: string }[];
    return entries.some((e) => e.names?.includes('localhost')) ? entries : undefined;
  }, 250);
  assert.doesNotMatch(JSON.stringify(list), /PRIVATE KEY/);
});

// ---------------------------------------------------------------------------------------------
// Cases with their own instance: 7 (WebSocket across reload), 8 (reload), 9 (SIGTERM), 10 (--watch)

function nextMessage(ws: WebSocket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no WebSocket message within ${timeoutMs} ms`)), timeoutMs);
    ws.addEventListener('message', (e: MessageEvent) => {
      clearTimeout(timer);
      resolve(String(e.data));
    }, { once: true });
    ws.addEventListener('close', () => {
      clearTimeout(timer);
      reject(new Error('WebSocket closed'));
    }, { once: true });
  });
}

test('a proxied WebSocket keeps echoing across a config reload, after the old config’s grace period', async (t) => {
  const ws = await wsEchoUpstream();
  t.after(() => ws.close());
  const [httpPort, httpsPort, site] = await freePorts(3);
  const config = (env: ServerEnv, extra: string): string =>
    globals(env, { http: httpPort!, https: httpsPort! }).replace('grace_period 5s', 'grace_period 300ms') +
    `http://127.0.0.1:${site} {
${extra}	reverse_proxy ${ws.address}
}
`;
  const server = await startServer((env) => config(env, ''));
  t.after(() => server.close());
  const client = new WebSocket(`ws://127.0.0.1:${site}/chat`);
  t.after(() => client.close());
  await new Promise<void>((resolve, reject) => {
    client.addEventListener('open', () => resolve(), { once: true });
    client.addEventListener('error', () => reject(new Error('WebSocket did not open')), { once: true });
  });
  const first = nextMessage(client);
  client.send('before reload');
  assert.equal(await first, 'before reload');

  const load = await request(`${server.adminUrl}/load`, {
    method: 'POST',
    headers: { 'content-type': 'text/caddyfile' },
    body: config(server, '\trespond /version "v2"\n'),
  });
  assert.equal(load.status, 200, load.body);
  assert.equal((await request(`http://127.0.0.1:${site}/version`)).body, 'v2', 'the new config serves');
  // Past the 300 ms grace period, when the old config's handlers are closed: the behaviour under
  // test is that the WebSocket outlives them. Nothing announces that close (App.reload runs it on
  // a timer, silently), so this wait is part of the test, not a stand-in for an event.
  await sleep(800);

  for (const text of ['after reload', 'é'.repeat(200)]) {
    const reply = nextMessage(client);
    client.send(text);
    assert.equal(await reply, text);
  }
  assert.equal(client.readyState, WebSocket.OPEN);
});

test('reload: an invalid config is rejected with FILE:LINE:COL and the old one keeps serving; a valid one (CLI, SIGHUP) applies on the same connection', async (t) => {
  const { server, target, config } = await respondInstance();
  t.after(() => server.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const v1 = await request(target, { agent });
  assert.equal(v1.body, 'v1');

  const invalid = config(server, 'broken', '\tbogus_directive on\n');
  const line = invalid.split('\n').findIndex((l) => l.includes('bogus_directive')) + 1;
  const load = await request(`${server.adminUrl}/load`, { method: 'POST', headers: { 'content-type': 'text/caddyfile' }, body: invalid });
  assert.equal(load.status, 400);
  assert.match(load.body, new RegExp(`^${escapeRe(server.file)}:${line}:\\d+: .*bogus_directive`, 'm'));
  assert.equal((await request(target, { agent })).body, 'v1', 'the old config keeps serving');

  const invalidFile = join(server.dir, 'invalid.Proxyfile');
  await writeFile(invalidFile, invalid);
  const rejected = await runCli(['reload', '--config', invalidFile, '--address', `127.0.0.1:${server.adminPort}`], { timeoutMs: 60_000 });
  assert.equal(rejected.code, 1, rejected.stderr);
  assert.match(rejected.stderr, new RegExp(`${escapeRe(invalidFile)}:${line}:\\d+: .*bogus_directive`));
  assert.equal((await request(target, { agent })).body, 'v1');

  const validFile = join(server.dir, 'v2.Proxyfile');
  await writeFile(validFile, config(server, 'v2'));
  const accepted = await runCli(['reload', '--config', validFile, '--address', `127.0.0.1:${server.adminPort}`], { timeoutMs: 60_000 });
  assert.equal(accepted.code, 0, accepted.stderr);
  const v2 = await request(target, { agent });
  assert.equal(v2.body, 'v2');
  assert.equal(v2.localPort, v1.localPort, 'the keep-alive connection opened before the reloads still works');

  await server.rewrite(config(server, 'v3'));
  server.child.kill('SIGHUP');
  await eventually('SIGHUP reloads the file', 10_000, async () => ((await request(target, { agent })).body === 'v3' ? true : undefined));
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether a new TCP connection to `port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(false);
    });
    req.on('socket', (socket: Socket) => socket.on('error', () => {}));
    req.on('timeout', () => req.destroy());
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** An instance proxying one plain-HTTP site to `upstream`; its port is returned with it. */
async function proxyInstance(upstream: Upstream, grace = '5s'): Promise<{ server: RunningServer; site: number }> {
  const [httpPort, httpsPort, site] = await freePorts(3);
  const server = await startServer(
    (env) =>
      globals(env, { http: httpPort!, https: httpsPort! }).replace('grace_period 5s', `grace_period ${grace}`) +
      `http://127.0.0.1:${site} {
	reverse_proxy ${upstream.address}
}
`,
  );
  return { server, site: site! };
}

test('SIGTERM stops accepting, lets a request in flight finish with 200, then exits 0', async (t) => {
  const echo = await echoUpstream();
  t.after(() => echo.close());
  const { server, site } = await proxyInstance(echo);
  t.after(() => server.close());
  let answeredAt = 0;
  const inFlight = request(`http://127.0.0.1:${site}/slow`, { timeoutMs: 15_000 }).then((r) => {
    answeredAt = Date.now();
    return r;
  });
  await eventually('the slow request reaches the upstream', 5_000, () => Promise.resolve(echo.hits.includes('/slow') ? true : undefined), 20);
  server.child.kill('SIGTERM');
  await eventually('new connections refused while the request is in flight', 1_500, async () => ((await refused(site)) ? true : undefined), 50);
  assert.equal(answeredAt, 0, 'refused before the in-flight request finished');
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(res.body, 'slow done');
  const exit = await server.waitForExit(15_000);
  assert.deepEqual(exit, { code: 0, signal: null }, server.stderr());
  assert.match(server.stderr(), /"msg":"stopped"/);
});

test('a second SIGTERM during the drain exits at once with code 1 and says why', async (t) => {
  const echo = await echoUpstream();
  t.after(() => echo.close());
  const { server, site } = await proxyInstance(echo, '10s');
  t.after(() => server.close());
  const inFlight = request(`http://127.0.0.1:${site}/slow`, { timeoutMs: 15_000 }).catch((err: unknown) => err);
  await eventually('the slow request reaches the upstream', 5_000, () => Promise.resolve(echo.hits.includes('/slow') ? true : undefined), 20);
  server.child.kill('SIGTERM');
  await server.waitForOutput(/"msg":"stopping"/, 5_000);
  const started = Date.now();
  server.child.kill('SIGTERM');
  const exit = await server.waitForExit(15_000);
  assert.ok(Date.now() - started < 1_500, 'did not wait for the request in flight');
  assert.deepEqual(exit, { code: 1, signal: null }, server.stderr());
  assert.match(server.stderr(), /second stop signal/);
  await inFlight;
});

/** An instance with one plain-HTTP site answering `respond "<body>"`, and how to render its config. */
async function respondInstance(args: readonly string[] = []): Promise<{ server: RunningServer; target: string; config: (env: ServerEnv, body: string, extra?: string) => string }> {
  const [httpPort, httpsPort, site] = await freePorts(3);
  const config = (env: ServerEnv, body: string, extra = ''): string =>
    globals(env, { http: httpPort!, https: httpsPort! }) +
    `http://127.0.0.1:${site} {
${extra}	respond "${body}"
}
`;
  const server = await startServer((env) => config(env, 'v1'), { args });
  return { server, target: `http://127.0.0.1:${site}/`, config };
}

/** Polls `target` until it answers `body`; the error carries the server's log. */
async function servesBody(server: RunningServer, target: string, body: string, timeoutMs = 15_000, intervalMs = 100): Promise<void> {
  await eventually(`body ${body} served`, timeoutMs, async () => ((await request(target)).body === body ? true : undefined), intervalMs).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\nstderr:\n${server.stderr()}`);
  });
}

/** What `run --watch` logs (info) once its watcher is ready: saves from then on are seen. */
const WATCHING = /watching config for changes/;

test('run --watch serves a new respond body after the Proxyfile is atomically replaced, and again after a second replacement', async (t) => {
  const { server, target, config } = await respondInstance(['--watch']);
  t.after(() => server.close());
  assert.equal((await request(target)).body, 'v1');
  // The watcher starts after the admin API answers; a save before it is ready would be missed.
  await server.waitForOutput(WATCHING, 15_000);
  await server.rewrite(config(server, 'v2'));
  await servesBody(server, target, 'v2');
  // The second replacement, once the first reload has finished, proves the watch survives the
  // rename that replaced the watched file (the next test saves again before that point).
  await server.waitForOutput(/"msg":"config reloaded"/, 10_000);
  await server.rewrite(config(server, 'v3'));
  await servesBody(server, target, 'v3');
});

test('run --watch applies a second save made right after the first reload', async (t) => {
  const { server, target, config } = await respondInstance(['--watch']);
  t.after(() => server.close());
  await server.waitForOutput(WATCHING, 15_000);
  await server.rewrite(config(server, 'v2'));
  await servesBody(server, target, 'v2', 15_000, 10);
  await server.rewrite(config(server, 'v3'));
  await servesBody(server, target, 'v3', 10_000);
});
