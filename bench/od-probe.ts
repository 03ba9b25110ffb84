/**
 * A quick probe of the per-name on-demand path (issue 12), my-server only, for iterating on it
 * between full `npm run bench -- --modes certs|on-demand` runs:
 *
 *   node bench/od-probe.ts stored N [--node-flag F]...   N stored certificates (bench/cert-cache.ts), one handshake each, 8 at a time
 *   node bench/od-probe.ts issue N [--node-flag F]...    N new names from the local CA, 8 at a time
 *
 * Runs src/main.ts (or dist/src/main.js with --dist) on loopback with a catch-all on-demand site
 * and an ask endpoint allowing every name; prints wall time, failed handshakes and the server's
 * CPU per name. `--keep` leaves the storage and the log in the printed folder.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { startAsk } from '../test/helpers/ask.ts';
import { certCache, cachedCertName, linkCertStorage } from './cert-cache.ts';
import { handshakeEach } from './load.ts';
import { freePort } from './measure.ts';

const [mode, countArg, ...rest] = process.argv.slice(2);
if ((mode !== 'stored' && mode !== 'issue') || countArg === undefined) {
  process.stderr.write('usage: node bench/od-probe.ts stored|issue N [--dist] [--keep] [--cpus LIST] [--wrap CMD] [--node-flag F]...\n');
  process.exit(2);
}
const count = Number(countArg);
const nodeFlags: string[] = [];
for (let i = 0; i < rest.length; i++) if (rest[i] === '--node-flag' && rest[i + 1] !== undefined) nodeFlags.push(rest[++i] ?? '');
const dist = rest.includes('--dist');
const keep = rest.includes('--keep');
const cpusAt = rest.indexOf('--cpus');
const cpus = cpusAt >= 0 ? rest[cpusAt + 1] : undefined;
const wrapAt = rest.indexOf('--wrap');
/** A command to run the server under, e.g. "strace -f -c -o FILE" (the CPU figure then includes it). */
const wrap = wrapAt >= 0 ? (rest[wrapAt + 1] ?? '').split(' ').filter((w) => w !== '') : [];

const REPO = join(import.meta.dirname, '..');
const dir = await mkdtemp(join(tmpdir(), 'od-probe-'));
const storage = join(dir, 'storage');
await mkdir(storage, { recursive: true });
const signal = new AbortController().signal;
if (mode === 'stored') await linkCertStorage(await certCache(join(homedir(), '.cache', 'my-server-bench'), count, (m) => process.stderr.write(`${m}\n`)), storage);
const ask = await startAsk(() => true);
const httpPort = await freePort();
const httpsPort = await freePort();
const config = join(dir, 'Proxyfile');
await writeFile(config, `{\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n\tdefault_bind 127.0.0.1\n\tadmin off\n\tstorage file ${storage}\n\tlocal_certs\n\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n\tlog {\n\t\tlevel error\n\t}\n}\nhttps:// {\n\ttls {\n\t\ton_demand\n\t}\n\trespond "od"\n}\n`);
const main = dist ? join(REPO, 'dist', 'src', 'main.js') : join(REPO, 'src', 'main.ts');
const logFile = join(dir, 'output.log');
const argv = [...wrap, process.execPath, '--max-semi-space-size=8', ...nodeFlags, main, 'run', '--config', config];
const child = cpus === undefined ? spawn(argv[0] ?? '', argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn('taskset', ['-c', cpus, ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const out: Buffer[] = [];
child.stdout.on('data', (b: Buffer) => out.push(b));
child.stderr.on('data', (b: Buffer) => out.push(b));

/** User and system CPU seconds of `pid` (its threads: the libuv pool's file operations count). */
async function cpuTimes(pid: number): Promise<{ user: number; system: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return { user: Number(stat[11]) / 100, system: Number(stat[12]) / 100 };
}

try {
  for (let t = 0; ; t++) {
    if ((await handshakeEach(httpsPort, ['warmup.od.test'], 1, signal, 30_000)).length === 0) break;
    if (t > 100) throw new Error(`no server: ${Buffer.concat(out).toString()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const names = Array.from({ length: count }, (_, k) => (mode === 'stored' ? cachedCertName(k) : `n${String(k).padStart(5, '0')}.od.test`));
  const pid = child.pid ?? 0;
  const cpu0 = await cpuTimes(pid);
  const t0 = performance.now();
  const reasons = new Map<string, number>();
  const failed = await handshakeEach(httpsPort, names, 8, signal, 60_000, (_, r) => reasons.set(r, (reasons.get(r) ?? 0) + 1));
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = await cpuTimes(pid);
  const user = cpu1.user - cpu0.user;
  const system = cpu1.system - cpu0.system;
  const perName = (s: number): string => ((s * 1000) / count).toFixed(2);
  process.stdout.write(`${mode} ${count}: wall ${wall.toFixed(2)} s, failed ${failed.length}, server CPU ${perName(user + system)} ms per name (user ${perName(user)}, system ${perName(system)}), ${((wall * 1000 * 8) / count).toFixed(1)} ms latency per name\n`);
  for (const [r, k] of reasons) process.stdout.write(`  ${k} × ${r}\n`);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await ask.close();
  await writeFile(logFile, Buffer.concat(out));
  if (keep) process.stdout.write(`kept ${dir}\n`);
  else await rm(dir, { recursive: true, force: true });
}
