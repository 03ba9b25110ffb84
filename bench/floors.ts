/**
 * The floors issue 12 compares my-server with, measured on this Node: a bare
 * `http2.createSecureServer` (allowHTTP1) with one certificate, idle (and, in the proxy mode,
 * under the handshake load, and as a bare reverse proxy to the bench's upstream under the wrk
 * loads: startBareServer), and what one `tls.createSecureContext` with a P-256
 * key and chain costs in RSS and CPU. Each runs as plain
 * JavaScript in a fresh `node` (`-e`), without the TypeScript stripper a .ts entry would load.
 */
import { runTool, treeStats } from './processes.ts';
import { sleep } from '../src/util/backoff.ts';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface Floors {
  readonly bareIdleRssKiB: number;
  readonly contextKiB: number;
  readonly contextCpuUs: number;
  readonly contexts: number;
}

/*
 * With an upstream URL, every request is proxied there: the floor of a Node reverse proxy. The
 * least a correct one does, as my-server and Caddy do it: undici's Pool (what proxy/transport.ts
 * uses), the client's Host passed on, hop-by-hop fields dropped both ways, X-Forwarded-For, -Proto
 * and -Host set, the upstream paused while the client is not reading, and aborted when the client
 * goes away (without that a reset connection holds its upstream connection paused for good). No
 * routing, no configuration, no metrics, no logs.
 * Without one it answers "ok" (the idle and handshake floors), and undici is not loaded.
 */
const BARE_SERVER = `
const http2 = require('node:http2');
const fs = require('node:fs');
const [cert, key, upstream, port] = process.argv.slice(1);
let handler = (req, res) => res.end('ok');
if (upstream) {
  const { Pool } = require('undici');
  const pool = new Pool(upstream);
  const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
  handler = (req, res) => {
    const headers = {};
    for (const k in req.headers) if (k.charCodeAt(0) !== 58 && !HOP.has(k)) headers[k] = req.headers[k];
    const host = req.headers.host ?? req.headers[':authority'];
    if (host !== undefined) headers.host = host;
    headers['x-forwarded-for'] = req.socket.remoteAddress;
    headers['x-forwarded-proto'] = 'https';
    if (host !== undefined) headers['x-forwarded-host'] = host;
    pool.dispatch({ method: req.method, path: req.url, headers }, {
      onRequestStart(controller) { res.once('close', () => { if (!res.writableFinished) controller.abort(new Error('client gone')); }); },
      onResponseStart(controller, status, h) {
        const out = {};
        for (const k in h) if (!HOP.has(k)) out[k] = h[k];
        res.writeHead(status, out);
      },
      onResponseData(controller, chunk) { if (!res.write(chunk)) { controller.pause(); res.once('drain', () => controller.resume()); } },
      onResponseEnd() { res.end(); },
      onResponseError(controller, err) { if (res.headersSent) res.destroy(err); else { res.statusCode = 502; res.end(); } },
    });
  };
}
const server = http2.createSecureServer({ allowHTTP1: true, cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handler);
server.listen(Number(port || 0), '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\\n'));
`;

/**
 * node's arguments for BARE_SERVER: `upstream` makes it a reverse proxy to that origin, `port`
 * fixes its port (otherwise it takes a free one and prints it). bench/handshake-floor.ts runs the
 * same server, so the hand-run floor and the bench's are one program.
 */
export function bareServerArgs(certFile: string, keyFile: string, upstream?: string, port?: number): string[] {
  return ['-e', BARE_SERVER, certFile, keyFile, upstream ?? '', ...(port === undefined ? [] : [String(port)])];
}

/** The repository root: where the bare server's require('undici') resolves. */
const REPO = join(import.meta.dirname, '..');

const CONTEXTS = 1000;
const CONTEXT_COST = `
const tls = require('node:tls');
const fs = require('node:fs');
const [cert, key] = process.argv.slice(1);
const certPem = fs.readFileSync(cert, 'utf8');
const keyPem = fs.readFileSync(key, 'utf8');
const settle = () => { for (let i = 0; i < 3; i++) globalThis.gc(); return process.memoryUsage().rss; };
tls.createSecureContext({ cert: certPem, key: keyPem });
const before = settle();
const kept = [];
const t = process.cpuUsage();
for (let i = 0; i < ${CONTEXTS}; i++) kept.push(tls.createSecureContext({ cert: certPem, key: keyPem }));
const cpu = process.cpuUsage(t);
const after = settle();
process.stdout.write(JSON.stringify({ kib: (after - before) / 1024 / kept.length, us: (cpu.user + cpu.system) / kept.length }) + '\\n');
`;

/**
 * A bare Node HTTPS server (BARE_SERVER) with one certificate, pinned to `cpus`: the floor of a
 * Node server; with `upstream` (http://host:port) a bare reverse proxy to it.
 */
export interface BareServer {
  readonly pid: number;
  readonly port: number;
  stop(): void;
}

export async function startBareServer(certFile: string, keyFile: string, cpus: string, signal: AbortSignal, upstream?: string): Promise<BareServer | string> {
  const args = ['-c', cpus, process.execPath, ...bareServerArgs(certFile, keyFile, upstream)];
  const child = spawn('taskset', args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], signal });
  child.on('error', () => undefined);
  const stop = (): void => void child.kill('SIGKILL');
  const port = await new Promise<number | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 10_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const m = /listening (\d+)/.exec(d);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', () => resolve(undefined));
  });
  if (port === undefined || child.pid === undefined) {
    stop();
    return 'the bare Node server did not start';
  }
  return { pid: child.pid, port, stop };
}

export async function measureFloors(certFile: string, keyFile: string, cpus: string, signal: AbortSignal): Promise<Floors | string> {
  const bare = await startBareServer(certFile, keyFile, cpus, signal).catch((err: unknown) => {
    if (signal.aborted) throw err;
    return `measuring the floors: ${(err as Error).message}`;
  });
  if (typeof bare === 'string') return bare;
  try {
    await sleep(1000, signal);
    const stats = await treeStats(bare.pid);
    const cost = await runTool(process.execPath, ['--expose-gc', '-e', CONTEXT_COST, certFile, keyFile], { cpus, timeoutMs: 60_000, signal });
    const parsed = JSON.parse(cost.stdout) as { kib: number; us: number };
    return { bareIdleRssKiB: stats.rssKiB, contextKiB: parsed.kib, contextCpuUs: parsed.us, contexts: CONTEXTS };
  } catch (err) {
    if (signal.aborted) throw err;
    return `measuring the floors: ${(err as Error).message}`;
  } finally {
    bare.stop();
  }
}
