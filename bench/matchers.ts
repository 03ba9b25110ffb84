/**
 * Micro-benchmark for request matching (issue 9): a site with 20 named matchers and 10 handles
 * against a plain one-line site, both served over loopback HTTP/1.1 by the real site router.
 *
 *   node bench/matchers.ts [--requests 20000] [--rounds 3]
 *
 * Each case's server runs in its own child process, so its CPU time (user + system, from
 * process.cpuUsage) is the server's alone; the client (this process) sends the same requests to
 * both, keep-alive, 8 in flight. The request misses every matcher and lands in the last handle,
 * the worst case: all 20 sets are evaluated. Also prints the matcher chain alone, in ns per
 * request, evaluated in-process. Bounded in count; loopback only.
 *
 * Each server gets WARM_UP requests before its CPU is read: V8 compiles the request path in
 * tiers, and a site with more code (20 matcher kinds, the CEL library) reaches its steady state
 * later; with 2,000 the background compilation still running in the measured window was counted
 * as per-request CPU (a one-time, per-config cost). The cases' order alternates by round, so a
 * drift of the shared machine's load does not always fall on the same case.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/index.ts';
import { requestContext } from '../src/http/request-target.ts';
import { silentLogger } from '../src/log.ts';
import { compileMatcherSet } from '../src/routes/matchers/index.ts';
import { SiteTable } from '../src/routes/site-table.ts';
import type { Route } from '../src/config/types.ts';

const PLAIN = `http://site.test:8080 {\n\trespond "ok"\n}\n`;

/** 20 named matchers of every cheap-to-common kind; 10 guard handles, 10 guard header lines. */
export const MATCHERS = `http://site.test:8080 {
	@m1 path /api/*
	@m2 path *.php
	@m3 path /static/* /assets/*
	@m4 header Accept *json*
	@m5 header !X-Skip
	@m6 query debug=1
	@m7 method POST PUT
	@m8 path_regexp ^/user/(\\d+)$
	@m9 host admin.site.test
	@m10 remote_ip 10.0.0.0/8
	@m11 {
		path /admin*
		not remote_ip private_ranges
	}
	@m12 header_regexp X-Id ^[0-9]+$
	@m13 protocol https
	@m14 vars feature on
	@m15 path /a/*/b
	@m16 client_ip 192.168.0.0/16
	@m17 query format=*
	@m18 header User-Agent curl*
	@m19 path /health /ready /live
	@m20 "{path}.startsWith('/cel') && method('GET')"
	header @m11 X-M11 1
	header @m12 X-M12 1
	header @m13 X-M13 1
	header @m14 X-M14 1
	header @m15 X-M15 1
	header @m16 X-M16 1
	header @m17 X-M17 1
	header @m18 X-M18 1
	header @m19 X-M19 1
	header @m20 X-M20 1
	handle @m1 {
		respond "1"
	}
	handle @m2 {
		respond "2"
	}
	handle @m3 {
		respond "3"
	}
	handle @m4 {
		respond "4"
	}
	handle @m6 {
		respond "6"
	}
	handle @m7 {
		respond "7"
	}
	handle @m8 {
		respond "8"
	}
	handle @m9 {
		respond "9"
	}
	handle @m10 {
		respond "10"
	}
	handle {
		respond "ok"
	}
}
`;

/** The same routes, each matcher a one-path set: what the routes cost apart from the matcher kinds. */
const SIMPLE = MATCHERS.replace(/^\t@m(\d+) (?:\{[\s\S]*?\n\t\}|.*)$/gm, '\t@m$1 path /never-$1');

const CASES: Readonly<Record<string, string>> = { plain: PLAIN, simple: SIMPLE, matchers: MATCHERS };
const PATH = '/some/page.html?x=1';
const IN_FLIGHT = 8;
const WARM_UP = 10_000;

async function serve(proxyfile: string): Promise<void> {
  const config = await parseConfig(proxyfile, { filename: 'bench' });
  const table = new SiteTable(config.sites, 'http', 8080, silentLogger());
  // With TLS (MS_BENCH_TLS_DIR: key.pem, cert.pem) the routing cost is set against an HTTPS
  // request, which is what a site answers in production and what the proxy mode measures.
  const tlsDir = process.env['MS_BENCH_TLS_DIR'];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const ctx = requestContext(req, 'http');
    const router = ctx && table.find(ctx.host);
    if (!ctx || !router) {
      res.statusCode = 404;
      res.end();
      return;
    }
    router.handle(req, res, ctx).catch(() => res.destroy());
  };
  const server = tlsDir === undefined ? http.createServer(handler) : https.createServer({ key: readFileSync(join(tlsDir, 'key.pem')), cert: readFileSync(join(tlsDir, 'cert.pem')) }, handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.on('message', (msg) => {
    if (msg === 'cpu') {
      const u = process.cpuUsage();
      process.send?.({ cpu: u.user + u.system });
    } else if (msg === 'stop') {
      server.closeAllConnections();
      server.close(() => process.exit(0));
    }
  });
  process.send?.({ port: (server.address() as AddressInfo).port });
}

function ask<T>(child: ChildProcess, key: string, msg?: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      const v = (m as Record<string, unknown>)[key];
      if (v === undefined) return;
      child.off('message', on);
      resolve(v as T);
    };
    child.on('message', on);
    if (msg !== undefined) child.send(msg);
  });
}

async function load(port: number, requests: number, tls: boolean): Promise<void> {
  const agent = tls ? new https.Agent({ keepAlive: true, maxSockets: IN_FLIGHT, rejectUnauthorized: false, servername: 'site.test' }) : new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const client = tls ? https : http;
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < requests) {
      sent++;
      await new Promise<void>((resolve, reject) => {
        const req = client.request({ host: '127.0.0.1', port, path: PATH, agent, headers: { host: 'site.test', accept: 'text/html' } }, (res) => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  agent.destroy();
}

/** The matcher sets alone, as the chain evaluates them for PATH (every one misses). */
export async function chainNs(iterations: number): Promise<number> {
  const config = await parseConfig(MATCHERS, { filename: 'bench' });
  const sets = (config.sites[0]?.routes ?? []).flatMap((r: Route) => (r.matcher ? [compileMatcherSet(r.matcher)] : []));
  const req = new http.IncomingMessage(new (await import('node:net')).Socket());
  req.url = PATH;
  req.method = 'GET';
  // As Node's HTTP parser hands header lines over, so headers/headersDistinct are derived from them.
  (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(['Host', 'site.test', 'Accept', 'text/html'], 4);
  const parsed = requestContext(req, 'http');
  if (!parsed) throw new Error('bad bench request');
  // The peer the loopback server sees (this socket is not connected, so it has none).
  const base = { ...parsed, remoteAddress: '127.0.0.1' };
  let hits = 0;
  const began = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const ctx = { ...base };
    for (const m of sets) if (m(req, ctx)) hits++;
  }
  const ns = Number(process.hrtime.bigint() - began) / iterations;
  if (hits !== 0) throw new Error(`${hits} matcher hits: the bench request should miss every set`);
  return ns;
}

export interface MatchersResult {
  readonly requests: number;
  readonly rounds: number;
  /** Server CPU per request, µs, per round, by case. */
  readonly perRound: Readonly<Record<string, readonly number[]>>;
  readonly plainUs: number;
  readonly simpleUs: number;
  readonly matchersUs: number;
  /** The same three sites served over TLS (HTTPS/1.1 keep-alive). */
  readonly tlsUs: { readonly plain: number; readonly simple: number; readonly matchers: number };
  readonly chainNs: number;
}

/** Each case's server in its own child, loaded with `requests` requests per round after WARM_UP ones; medians over rounds. */
export async function measureMatchers(requests: number, rounds: number): Promise<MatchersResult> {
  const cpu: Record<string, number[]> = { plain: [], simple: [], matchers: [], 'plain+tls': [], 'simple+tls': [], 'matchers+tls': [] };
  const tlsDir = mkdtempSync(join(tmpdir(), 'ms-bench-matchers-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=site.test', '-days', '1', '-keyout', join(tlsDir, 'key.pem'), '-out', join(tlsDir, 'cert.pem')], { stdio: 'ignore' });
    for (let round = 0; round < rounds; round++) {
      const names = Object.keys(cpu);
      for (const name of round % 2 === 0 ? names : names.reverse()) {
        const tls = name.endsWith('+tls');
        const env = tls ? { ...process.env, MS_BENCH_TLS_DIR: tlsDir } : process.env;
        const child = fork(new URL(import.meta.url).pathname, ['--serve', name.replace('+tls', '')], { stdio: 'inherit', env });
        try {
          const port = await ask<number>(child, 'port');
          await load(port, WARM_UP, tls);
          const before = await ask<number>(child, 'cpu', 'cpu');
          await load(port, requests, tls);
          const after = await ask<number>(child, 'cpu', 'cpu');
          cpu[name]?.push((after - before) / requests);
        } finally {
          child.send('stop');
          await new Promise((r) => child.once('exit', r));
        }
      }
    }
  } finally {
    rmSync(tlsDir, { recursive: true, force: true });
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  return {
    requests,
    rounds,
    perRound: cpu,
    plainUs: median(cpu['plain'] ?? []),
    simpleUs: median(cpu['simple'] ?? []),
    matchersUs: median(cpu['matchers'] ?? []),
    tlsUs: { plain: median(cpu['plain+tls'] ?? []), simple: median(cpu['simple+tls'] ?? []), matchers: median(cpu['matchers+tls'] ?? []) },
    chainNs: await chainNs(200_000),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { serve: { type: 'string' }, requests: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' } } });
  if (values.serve !== undefined) {
    await serve(CASES[values.serve] ?? PLAIN);
    return;
  }
  const r = await measureMatchers(Number(values.requests), Number(values.rounds));
  for (const [name, xs] of Object.entries(r.perRound)) console.log(`  ${name} rounds (µs): ${xs.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`server CPU per request (median of ${r.rounds} rounds of ${r.requests}):`);
  console.log(`  plain site:                      ${r.plainUs.toFixed(1)} µs`);
  console.log(`  same routes, one-path matchers:  ${r.simpleUs.toFixed(1)} µs  (${(((r.simpleUs - r.plainUs) / r.plainUs) * 100).toFixed(1)}% extra)`);
  console.log(`  20 named matchers + 10 handles:  ${r.matchersUs.toFixed(1)} µs  (${(((r.matchersUs - r.plainUs) / r.plainUs) * 100).toFixed(1)}% extra)`);
  console.log(`matcher chain alone (20 sets, all missing): ${r.chainNs.toFixed(0)} ns per request`);
}

/** The section of docs/benchmarks.md. */
export function renderMatchers(r: MatchersResult): string {
  const extra = (us: number, base = r.plainUs): string => `${(((us - base) / base) * 100).toFixed(1)}%`;
  return `my-server only (the routing cost of a Caddyfile site, issue 9). Server CPU per request (user+system of the server's own process, median of ${r.rounds} rounds of ${r.requests.toLocaleString('en-US')} keep-alive HTTP/1.1 requests, 8 in flight, on loopback, without and with TLS; the TLS rows are set against the plain site over TLS):

| site | CPU per request, µs | extra over the plain site |
|---|---:|---:|
| plain (\`respond "ok"\`) | ${r.plainUs.toFixed(1)} | – |
| same 10 handles + 10 header lines, each matcher one \`path\` | ${r.simpleUs.toFixed(1)} | ${extra(r.simpleUs)} |
| 20 named matchers of every kind + 10 handles | ${r.matchersUs.toFixed(1)} | ${extra(r.matchersUs)} |
| plain, over TLS (HTTPS/1.1 keep-alive) | ${r.tlsUs.plain.toFixed(1)} | – |
| one-path matchers, over TLS | ${r.tlsUs.simple.toFixed(1)} | ${extra(r.tlsUs.simple, r.tlsUs.plain)} |
| 20 named matchers + 10 handles, over TLS | ${r.tlsUs.matchers.toFixed(1)} | ${extra(r.tlsUs.matchers, r.tlsUs.plain)} |

After ${WARM_UP.toLocaleString('en-US')} warm-up requests per server (steady state: V8's compilation of the request path is a per-config cost). The matcher chain alone (the 20 sets evaluated in-process for a request that misses every one, the worst case): **${r.chainNs.toFixed(0)} ns** per request. Rounds (µs): ${Object.entries(r.perRound).map(([k, xs]) => `${k} ${xs.map((x) => x.toFixed(0)).join(' ')}`).join('; ')}. Method: \`bench/matchers.ts\` (the site router of src/routes behind \`http.createServer\` or \`https.createServer\` (P-256, TLS 1.3), each case in its own child process).`;
}

if (process.argv[1]?.endsWith('matchers.ts')) await main();
