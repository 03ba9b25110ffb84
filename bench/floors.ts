/**
 * The floors issue 12 compares my-server with, measured on this Node: a bare
 * `http2.createSecureServer` (allowHTTP1) with one certificate, idle (and, in the proxy mode,
 * under the handshake load: startBareServer), and what one `tls.createSecureContext` with a P-256
 * key and chain costs in RSS and CPU. Each runs as plain
 * JavaScript in a fresh `node` (`-e`), without the TypeScript stripper a .ts entry would load.
 */
import { runTool, treeStats } from './processes.ts';
import { sleep } from '../src/util/backoff.ts';
import { spawn } from 'node:child_process';

export interface Floors {
  readonly bareIdleRssKiB: number;
  readonly contextKiB: number;
  readonly contextCpuUs: number;
  readonly contexts: number;
}

const BARE_SERVER = `
const http2 = require('node:http2');
const fs = require('node:fs');
const [cert, key] = process.argv.slice(1);
const server = http2.createSecureServer({ allowHTTP1: true, cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\\n'));
`;

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

/** A bare Node HTTPS server (BARE_SERVER) with one certificate, pinned to `cpus`: the floor of a Node server. */
export interface BareServer {
  readonly pid: number;
  readonly port: number;
  stop(): void;
}

export async function startBareServer(certFile: string, keyFile: string, cpus: string, signal: AbortSignal): Promise<BareServer | string> {
  const child = spawn('taskset', ['-c', cpus, process.execPath, '-e', BARE_SERVER, certFile, keyFile], { stdio: ['ignore', 'pipe', 'pipe'], signal });
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
