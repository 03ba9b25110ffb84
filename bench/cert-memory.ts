/**
 * Memory per loaded certificate and the CPU cost of a cold hit (issue 12).
 *
 * The in-process companion of `npm run bench -- --modes certs` (which measures whole servers
 * against Caddy): takes `--count N` (default 1,000) stored certificates from the bench cache
 * (bench/cert-cache.ts, prepared once in seconds), links them into a scratch file storage, then
 * measures in a fresh child process (--expose-gc): a CertificateManager as `my-server run` builds it (file
 * storage, the TLS context options of the listener, on-demand names under .mem.test) loads every
 * certificate the way a first handshake does (secureContextFor: storage → install), 8 at a time.
 * RSS is read after full GCs with 1, N/2 and N certificates loaded; (RSS(N) − RSS(N/2)) ÷ (N/2) is
 * the marginal memory per certificate (the first half also pays V8's young generation growing). Then the CPU (process.cpuUsage, user+system) of secureContextFor for 200
 * hot names and for 200 cold ones (loaded but without a built context), in µs per call.
 *
 *   node_modules/.bin/node [--max-semi-space-size=8] bench/cert-memory.ts [--count 1000] [--cache DIR]
 * (node flags given are passed on to the measuring child)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { CertificateStore } from '../src/certs/certificate-store.ts';
import { LocalIssuer } from '../src/certs/local-issuer.ts';
import { CertificateManager, type NamePolicy } from '../src/certs/manager.ts';
import { cachedCertName, certCache, defaultCacheDir, linkCertStorage } from './cert-cache.ts';
import { silentLogger } from '../src/log.ts';
import { FileStorage } from '../src/storage/file-storage.ts';
import { TLS_CONTEXT_OPTIONS } from '../src/tls/tls-front.ts';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '1000' }, dir: { type: 'string' }, cache: { type: 'string' }, measure: { type: 'boolean', default: false } },
});
const count = Number(values.count);
if (!Number.isInteger(count) || count < 300 || count > 20_000) throw new Error(`--count: expected 300..20000, got ${values.count}`);
const nameOf = cachedCertName;
const SAMPLE = 200;

/** Runs `fn` over 0..n-1, `width` at a time. */
async function pool(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

interface Settled {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
}

async function settled(): Promise<Settled> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await delay(50);
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function measure(dir: string): Promise<void> {
  const storage = new FileStorage(dir);
  const issuer = new LocalIssuer({ storage, log: silentLogger() });
  const policy: NamePolicy = { issuer, keyType: 'p256' };
  const mgr = new CertificateManager({
    storage,
    store: new CertificateStore(storage),
    log: silentLogger(),
    contextOptions: TLS_CONTEXT_OPTIONS,
    onDemand: { covers: (n) => (n.endsWith('.mem.test') ? policy : undefined), authorize: () => Promise.reject(new Error('bench: every certificate must come from storage')) },
  });
  const load = async (i: number): Promise<void> => {
    if ((await mgr.secureContextFor(nameOf(i))) === undefined) throw new Error(`no context for ${nameOf(i)}`);
  };
  // One certificate first, so the code paths are compiled and the LRU's arrays allocated.
  await load(0);
  const start = await settled();
  // The marginal figure comes from the second half: by then V8's young generation has grown to its
  // maximum under the allocation rate of loading (a fixed cost of up to ~48 MiB with default
  // flags, not a per-certificate one), and the hot contexts are at their bound.
  const half = Math.floor(count / 2);
  await pool(half - 1, 8, (i) => load(i + 1));
  // Evicted contexts are freed at the next turn of the event loop (context-cache.ts); the pause
  // lets allocation settle.
  await delay(1_500);
  const mid = await settled();
  await pool(count - half, 8, (i) => load(half + i));
  await delay(1_500);
  const end = await settled();
  const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);
  const stats = 'contextCacheStats' in mgr ? mgr.contextCacheStats() : undefined;
  const per = (k: keyof Settled, from: Settled, to: Settled, n: number): string => ((to[k] - from[k]) / 1024 / n).toFixed(1);
  console.log(`certificates loaded: ${count}; hot contexts: ${stats ? `${stats.hot} of ${stats.max}` : 'all (no bound)'}; node ${process.version} ${process.execArgv.join(' ')}`);
  console.log(`RSS with 1 certificate: ${mib(start.rss)} MiB; with ${half}: ${mib(mid.rss)} MiB; with ${count}: ${mib(end.rss)} MiB`);
  console.log(`all ${count}: ${per('rss', start, end, count - 1)} KiB per certificate (JS heap ${per('heapUsed', start, end, count - 1)})`);
  console.log(`marginal (second half): ${per('rss', mid, end, count - half)} KiB per certificate (JS heap ${per('heapUsed', mid, end, count - half)})`);

  // Hot hits: the names loaded last are in the LRU (or everything is, without a bound).
  const hot = Array.from({ length: SAMPLE }, (_, i) => count - SAMPLE + i);
  let t = cpuMicros();
  for (const i of hot) await load(i);
  const hotUs = (cpuMicros() - t) / SAMPLE;
  // Cold hits: the names loaded first, evicted by the later ones when there is a bound.
  const cold = Array.from({ length: SAMPLE }, (_, i) => i + 1);
  t = cpuMicros();
  for (const i of cold) await load(i);
  const coldUs = (cpuMicros() - t) / SAMPLE;
  console.log(`secureContextFor CPU: hot ${hotUs.toFixed(1)} µs; cold ${coldUs.toFixed(1)} µs (the cold-hit cost: ${(coldUs - hotUs).toFixed(1)} µs per full handshake)`);
  await delay(1_500);
  const churned = await settled();
  console.log(`RSS after ${SAMPLE} cold hits: ${mib(churned.rss)} MiB`);
  await mgr.close();
}

if (values.measure) {
  if (values.dir === undefined) throw new Error('--measure needs --dir');
  await measure(values.dir);
} else {
  const cache = await certCache(values.cache ?? defaultCacheDir(), count, (m) => console.log(m));
  // A scratch copy: the storage writes its locks folder, and the cache stays as prepared.
  const dir = await mkdtemp(join(tmpdir(), 'my-server-cert-memory-'));
  try {
    await linkCertStorage(cache, dir);
    const child = spawn(process.execPath, [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), '--measure', '--count', String(count), '--dir', dir], { stdio: 'inherit' });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) process.exitCode = 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
