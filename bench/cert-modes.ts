/**
 * The certificate modes (issue 12), my-server against Caddy (nginx has no on-demand certificates):
 *
 * - `certs`: memory per certificate. Each server gets file storage holding N stored local-CA
 *   certificates (bench/cert-cache.ts) and one catch-all on-demand site; one handshake per name
 *   makes it load each from storage (no issuance). VmRSS after the first, after half and after
 *   all N; the marginal figure is (RSS(N) − RSS(N/2)) ÷ (N/2). Then the server CPU per handshake
 *   for 200 names loaded first (outside a bounded context cache: a cold hit) and for the 200 last
 *   (hot): the difference is what a cold hit adds to a full handshake.
 * - `on-demand`: the first handshake for a new name until a certificate that verifies against
 *   Pebble's root (Pebble per candidate, no authorization reuse, no nonce rejection: each name is
 *   a full validation), and N new names from the product's local CA, 8 at a time: wall time,
 *   failed first handshakes, VmRSS after and VmHWM.
 */
import { connect } from 'node:tls';
import { join } from 'node:path';
import { access, mkdir, readdir } from 'node:fs/promises';
import { describeError } from '../src/errors.ts';
import { sleep } from '../src/util/backoff.ts';
import { startAsk } from '../test/helpers/ask.ts';
import { startPebble } from '../test/helpers/pebble.ts';
import type { Candidate } from './candidates.ts';
import { cachedCertName, certCache, linkCertStorage, type CertCache } from './cert-cache.ts';
import { handshakeEach } from './load.ts';
import { cpuSecondsOf, freePort, startOnDemand, type Instance, type RunContext } from './measure.ts';
import { treeStats } from './processes.ts';
import { figureTable, type Figure, type FigureRow } from './report.ts';
import type { Floors } from './floors.ts';

const IN_FLIGHT = 8;
const COLD_SAMPLE = 200;
/** Long enough for contexts evicted from my-server's cache to be freed (context-cache.ts frees them after 1 s). */
const SETTLE_MS = 1_500;

export interface CertMemoryResult {
  readonly count: number;
  readonly rssOneKiB: number;
  readonly rssHalfKiB: number;
  readonly rssAllKiB: number;
  readonly hwmKiB: number;
  readonly loadSeconds: number;
  /** Server CPU over the same handshakes (N − 1 names). */
  readonly loadCpuSeconds: number;
  readonly failed: number;
  readonly coldCpuUs: number;
  readonly hotCpuUs: number;
}

export interface CandidateCerts {
  readonly id: string;
  readonly label: string;
  /** By certificate count; a string says why there is no figure. */
  readonly memory: Map<number, CertMemoryResult | string>;
  firstHandshake?: { readonly warmupMs: number; readonly ms: readonly number[] } | string;
  issuance?: { readonly count: number; readonly stored: number; readonly seconds: number; readonly failed: number; readonly failures: readonly string[]; readonly idleRssKiB: number; readonly rssKiB: number; readonly hwmKiB: number; readonly cpuSeconds: number } | string;
}

export function certsResults(candidates: readonly Candidate[]): CandidateCerts[] {
  return candidates.map((c) => ({ id: c.id, label: c.label, memory: new Map() }));
}

async function ports(): Promise<{ http: number; https: number }> {
  return { http: await freePort(), https: await freePort() };
}

/** One handshake as a client would make it, verified against `ca`: the time it took, or throws. */
function verifiedHandshake(port: number, name: string, ca: string, timeoutMs: number): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: name, ca, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => socket.destroy(new Error(`${name}: no handshake after ${timeoutMs} ms`)), timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const ms = performance.now() - start;
      socket.end();
      if (socket.authorized) resolve(ms);
      else reject(new Error(`${name}: ${String(socket.authorizationError)}`));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function withInstance<T>(run: RunContext, instance: Instance | string, body: (i: Instance) => Promise<T>): Promise<T | string> {
  if (typeof instance === 'string') return instance;
  try {
    return await body(instance);
  } catch (err) {
    if (run.signal.aborted) throw err;
    return describeError(err);
  } finally {
    await run.processes.stop(instance.started);
  }
}

async function memoryFor(run: RunContext, candidate: Candidate, cache: CertCache, askUrl: string, progress: (m: string) => void): Promise<CertMemoryResult | string> {
  const n = cache.count;
  const storage = join(run.dir, `${candidate.id}-certs-${n}-storage`);
  await mkdir(storage, { recursive: true });
  await linkCertStorage(cache, storage);
  const instance = await startOnDemand(run, candidate, { storage, askUrl }, await ports(), `certs-${n}`, 30_000);
  return withInstance(run, instance, async (i) => {
    const names = Array.from({ length: n }, (_, k) => cachedCertName(k));
    const first = await handshakeEach(i.port, names.slice(0, 1), 1, run.signal, 30_000);
    if (first.length > 0) throw new Error(`the first stored certificate (${names[0]}) was not served`);
    await sleep(SETTLE_MS, run.signal);
    const one = await treeStats(i.started.pid);
    const half = Math.floor(n / 2);
    progress(`certs ${n}: ${candidate.label}: loading ${n} stored certificates`);
    const cpu0 = await cpuSecondsOf(i);
    const t0 = performance.now();
    const failedA = await handshakeEach(i.port, names.slice(1, half), IN_FLIGHT, run.signal, 30_000);
    // The two halves' handshakes only: the settling pause and the RSS reading between them are not loading.
    const firstHalfMs = performance.now() - t0;
    const cpuA = (await cpuSecondsOf(i)) - cpu0;
    await sleep(SETTLE_MS, run.signal);
    const mid = await treeStats(i.started.pid);
    const cpu1 = await cpuSecondsOf(i);
    const t1 = performance.now();
    const failedB = await handshakeEach(i.port, names.slice(half), IN_FLIGHT, run.signal, 30_000);
    const loadSeconds = (firstHalfMs + (performance.now() - t1)) / 1000;
    const loadCpuSeconds = cpuA + ((await cpuSecondsOf(i)) - cpu1);
    await sleep(SETTLE_MS, run.signal);
    const all = await treeStats(i.started.pid);
    // One at a time, so each handshake's CPU is the server's work for that name alone. Hot first:
    // the cold names' rebuilt contexts would push the recent ones out of a bounded cache.
    const cpuPer = async (sample: readonly string[]): Promise<number> => {
      const before = await cpuSecondsOf(i);
      await handshakeEach(i.port, sample, 1, run.signal, 30_000);
      return ((await cpuSecondsOf(i)) - before) * 1e6 / sample.length;
    };
    const hotCpuUs = await cpuPer(names.slice(n - COLD_SAMPLE));
    const coldCpuUs = await cpuPer(names.slice(1, 1 + COLD_SAMPLE));
    return {
      count: n,
      rssOneKiB: one.rssKiB,
      rssHalfKiB: mid.rssKiB,
      rssAllKiB: all.rssKiB,
      hwmKiB: all.peakRssKiB,
      loadSeconds,
      loadCpuSeconds,
      failed: failedA.length + failedB.length,
      coldCpuUs,
      hotCpuUs,
    };
  });
}

export async function runCertMemory(
  run: RunContext,
  candidates: readonly Candidate[],
  results: readonly CandidateCerts[],
  counts: readonly number[],
  cacheDir: string,
  progress: (m: string) => void,
): Promise<{ count: number; preparedSeconds: number }[]> {
  const ask = await startAsk(() => true);
  const prepared: { count: number; preparedSeconds: number }[] = [];
  try {
    for (const count of counts) {
      const cache = await certCache(cacheDir, count, progress);
      prepared.push({ count, preparedSeconds: cache.preparedSeconds });
      for (const [index, candidate] of candidates.entries()) {
        const result = results[index];
        if (result === undefined) continue;
        progress(`certs ${count}: ${candidate.label}`);
        result.memory.set(count, candidate.prepareOnDemand === undefined ? 'no on-demand certificates' : await memoryFor(run, candidate, cache, ask.url, progress));
      }
    }
  } finally {
    await ask.close();
  }
  return prepared;
}

export async function runOnDemand(run: RunContext, candidates: readonly Candidate[], results: readonly CandidateCerts[], options: { readonly firstNames: number; readonly names: number }, progress: (m: string) => void): Promise<void> {
  const ask = await startAsk(() => true);
  try {
    for (const [index, candidate] of candidates.entries()) {
      const result = results[index];
      if (result === undefined || candidate.prepareOnDemand === undefined) {
        if (result) result.firstHandshake = result.issuance = 'no on-demand certificates';
        continue;
      }
      progress(`on-demand: ${candidate.label}: first handshakes on Pebble`);
      const p = await ports();
      const pebble = await startPebble({ httpPort: p.http, tlsPort: p.https, authzReuse: 0, nonceReject: 0, signal: run.signal }).catch((err: unknown) => describeError(err));
      if (typeof pebble === 'string') {
        result.firstHandshake = `Pebble did not start: ${pebble}`;
      } else {
        try {
          const storage = join(run.dir, `${candidate.id}-pebble-storage`);
          const instance = await startOnDemand(run, candidate, { storage, askUrl: ask.url, acme: { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile } }, p, 'pebble', 30_000);
          const root = await pebble.rootPem();
          result.firstHandshake = await withInstance(run, instance, async (i) => {
            // The first name also registers the ACME account: reported apart.
            const warmupMs = await verifiedHandshake(i.port, `warmup.od.test`, root, 60_000);
            const ms: number[] = [];
            for (let k = 0; k < options.firstNames; k++) ms.push(await verifiedHandshake(i.port, `n${k}-${Date.now()}.od.test`, root, 60_000));
            return { warmupMs, ms };
          });
        } finally {
          await pebble.stop();
        }
      }
      progress(`on-demand: ${candidate.label}: ${options.names} names from the local CA`);
      const storage = join(run.dir, `${candidate.id}-local-storage`);
      const instance = await startOnDemand(run, candidate, { storage, askUrl: ask.url }, await ports(), 'local', 30_000);
      result.issuance = await withInstance(run, instance, async (i) => {
        // One name first: the local CA is created and the code paths warm.
        const warm = await handshakeEach(i.port, ['warmup.od.test'], 1, run.signal, 60_000);
        if (warm.length > 0) throw new Error('the warm-up name got no certificate');
        await sleep(1000, run.signal);
        const idle = await treeStats(i.started.pid);
        const names = Array.from({ length: options.names }, (_, k) => `n${String(k).padStart(5, '0')}.od.test`);
        const cpuBefore = await cpuSecondsOf(i);
        const t0 = performance.now();
        const reasons = new Map<string, number>();
        const failed = await handshakeEach(i.port, names, IN_FLIGHT, run.signal, 60_000, (_, reason) => reasons.set(reason.trim(), (reasons.get(reason.trim()) ?? 0) + 1));
        const seconds = (performance.now() - t0) / 1000;
        const cpuSeconds = (await cpuSecondsOf(i)) - cpuBefore;
        const stored = await storedCertificates(storage, new Set(names));
        await sleep(1000, run.signal);
        const after = await treeStats(i.started.pid);
        return { count: names.length, stored, seconds, failed: failed.length, failures: [...reasons].map(([r, k]) => `${k} × ${r}`), idleRssKiB: idle.rssKiB, rssKiB: after.rssKiB, hwmKiB: after.peakRssKiB, cpuSeconds };
      });
    }
  } finally {
    await ask.close();
  }
}

const MiB = (kib: number): number => kib / 1024;

/**
 * How many of `names` have a certificate in `storage`, read when the handshakes are over (with the
 * CPU figure). Both products keep them as `certificates/<issuer>/<name>/<name>.crt`. A product that
 * fails a first handshake without storing a certificate (Caddy 2.6.2 failed 430–518 of 1,000) has
 * done less work for its wall time and CPU; per stored certificate compares like with like.
 */
export async function storedCertificates(storage: string, names: ReadonlySet<string>): Promise<number> {
  const found = new Set<string>();
  const root = join(storage, 'certificates');
  const issuers = await readdir(root).catch(() => []);
  for (const issuer of issuers) {
    for (const name of await readdir(join(root, issuer)).catch(() => [])) {
      if (!names.has(name)) continue;
      // A name under two issuers' folders is still one certificate asked for.
      if (await access(join(root, issuer, name, `${name}.crt`)).then(() => true, () => false)) found.add(name);
    }
  }
  return found.size;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? Number.NaN) + (s[mid] ?? Number.NaN)) / 2;
}

function memoryFigure(r: CandidateCerts, count: number, pick: (m: CertMemoryResult) => number): Figure {
  const m = r.memory.get(count);
  if (m === undefined || typeof m === 'string') return m;
  if (m.failed > 0) return `${m.failed} of ${count} names not served their stored certificate`;
  return pick(m);
}

export function renderCertMemory(results: readonly CandidateCerts[], counts: readonly number[], floors: Floors | string | undefined, prepared: readonly { count: number; preparedSeconds: number }[]): string {
  const columns = results.map((r) => ({ id: r.id, label: r.label }));
  const rows: FigureRow[] = [];
  for (const n of counts) {
    const label = n.toLocaleString('en-US');
    rows.push({ metric: `${label} certificates: marginal memory per certificate, KiB`, better: 'lower', goal: true, digits: 1, values: results.map((r) => memoryFigure(r, n, (m) => (m.rssAllKiB - m.rssHalfKiB) / (n - Math.floor(n / 2)))) });
    rows.push({ metric: `${label} certificates: (RSS − RSS with 1) ÷ N, KiB`, better: 'lower', goal: false, digits: 1, values: results.map((r) => memoryFigure(r, n, (m) => (m.rssAllKiB - m.rssOneKiB) / (n - 1))) });
    rows.push({ metric: `${label} certificates: VmRSS with all loaded, MiB`, better: 'lower', goal: false, digits: 1, values: results.map((r) => memoryFigure(r, n, (m) => MiB(m.rssAllKiB))) });
    rows.push({ metric: `${label} certificates: VmRSS with 1 loaded, MiB`, better: 'lower', goal: false, digits: 1, values: results.map((r) => memoryFigure(r, n, (m) => MiB(m.rssOneKiB))) });
    rows.push({ metric: `${label} certificates: VmHWM, MiB`, better: 'lower', goal: false, digits: 1, values: results.map((r) => memoryFigure(r, n, (m) => MiB(m.hwmKiB))) });
    rows.push({ metric: `${label} certificates: wall time to load all (8 at a time), s`, better: 'lower', goal: true, digits: 2, values: results.map((r) => memoryFigure(r, n, (m) => m.loadSeconds)) });
    rows.push({ metric: `${label} certificates: server CPU per name while loading (storage, checks, context, handshake), ms`, better: 'lower', goal: false, digits: 2, values: results.map((r) => memoryFigure(r, n, (m) => (m.loadCpuSeconds * 1000) / (n - 1))) });
    rows.push({ metric: `${label} certificates: server CPU per full handshake, early name (cold), µs`, better: 'lower', goal: false, digits: 0, values: results.map((r) => memoryFigure(r, n, (m) => m.coldCpuUs)) });
    rows.push({ metric: `${label} certificates: server CPU per full handshake, recent name (hot), µs`, better: 'lower', goal: false, digits: 0, values: results.map((r) => memoryFigure(r, n, (m) => m.hotCpuUs)) });
  }
  // Across two runs (two processes) the fixed costs both pay cancel out: the slope between the counts.
  const [low, high] = [...counts].sort((a, b) => a - b);
  if (low !== undefined && high !== undefined && high > low) {
    rows.unshift({
      metric: `memory per certificate between the ${low.toLocaleString('en-US')} and ${high.toLocaleString('en-US')} runs, (RSS(${high}) − RSS(${low})) ÷ ${high - low}, KiB`,
      better: 'lower',
      goal: true,
      digits: 1,
      values: results.map((r) => {
        const a = memoryFigure(r, low, (m) => m.rssAllKiB);
        const b = memoryFigure(r, high, (m) => m.rssAllKiB);
        return typeof a === 'number' && typeof b === 'number' ? (b - a) / (high - low) : typeof a === 'number' ? b : a;
      }),
    });
  }
  const floorLines =
    floors === undefined
      ? []
      : typeof floors === 'string'
        ? [`- Floors: ${floors}`]
        : [
            `- Floor: a bare Node ${process.version} \`http2.createSecureServer({ allowHTTP1: true })\` with the bench's P-256 certificate idles at **${MiB(floors.bareIdleRssKiB).toFixed(1)} MiB** VmRSS (issue 12's idle goal: ≤ 1.2× that, ${((1.2 * floors.bareIdleRssKiB) / 1024).toFixed(1)} MiB).`,
            `- Floor: one \`tls.createSecureContext\` with that key and chain costs **${floors.contextKiB.toFixed(1)} KiB** of RSS (${floors.contexts.toLocaleString('en-US')} kept, after full GCs) and **${floors.contextCpuUs.toFixed(0)} µs** of CPU: a store that kept a SecureContext per certificate could not go below that per certificate.`,
          ];
  const prep = prepared.map((p) => `${p.count.toLocaleString('en-US')}: ${p.preparedSeconds > 0 ? `prepared in ${p.preparedSeconds.toFixed(1)} s this run` : 'from the cache'}`).join('; ');
  return `${figureTable(columns, rows, 'certs-')}

${floorLines.join('\n')}

Method: each server gets its own copy (hard links) of a storage tree holding N P-256 certificates from a throwaway local CA (\`bench/cert-cache.ts\`: assembled from DER pieces and signed with node:crypto, ~0.3 ms each, kept in the bench cache folder, \`~/.cache/my-server-bench/certs-N\`, for ten days; ${prep}), the same keys in both products' layout (\`certificates/local/<name>/<name>.crt|.key|.json\`), and one catch-all site \`https:// { tls { on_demand } }\` with the local CA and an ask endpoint allowing every name. One handshake per name (TLS 1.3, X25519 key share only, as in the proxy mode's handshake load), 8 at a time, makes each server load that name's certificate from storage (no issuance; a handshake that does not get its own certificate counts as failed); the wall time and the server CPU per name count those handshakes only, not the settling pause and RSS reading between the two halves (runs before 2026-12-05 05:00 UTC counted the 1.5 s pause as loading). VmRSS (/proc, the server's process tree) after the first name, after N/2 and after N, each 1.5 s after the last handshake (my-server frees evicted contexts at the next turn of its event loop). Three estimates of the memory a certificate costs, because fixed costs (V8's young generation growing under the allocation rate of loading, a cache's structures) land in the first certificates: the slope between the two counts' runs (first row), the marginal figure within one run, (RSS(N) − RSS(N/2)) ÷ (N/2), and the plain average (RSS(N) − RSS(1)) ÷ N, which carries all fixed costs. RSS is what malloc and V8 keep, so each is noisy by a few KiB. Cold/hot: server CPU (user+system) over ${COLD_SAMPLE} full handshakes one at a time, first to the ${COLD_SAMPLE} names loaded last (hot), then to the names loaded first; with a bounded context cache the first are cold (the context is rebuilt), so cold − hot is what a cold hit adds to a full handshake. nginx has no on-demand certificates; its memory with 1,000 configured certificates is in the proxy table.`;
}

export function renderOnDemand(results: readonly CandidateCerts[], names: number): string {
  const columns = results.map((r) => ({ id: r.id, label: r.label }));
  const first = (r: CandidateCerts, pick: (f: { warmupMs: number; ms: readonly number[] }) => number): Figure => (typeof r.firstHandshake === 'object' ? pick(r.firstHandshake) : r.firstHandshake);
  const issued = (r: CandidateCerts, pick: (i: Exclude<CandidateCerts['issuance'], string | undefined>) => Figure): Figure => {
    const i = r.issuance;
    if (typeof i !== 'object') return i;
    return pick(i);
  };
  const label = names.toLocaleString('en-US');
  const rows: FigureRow[] = [
    { metric: 'first handshake for a new name → valid certificate (Pebble), median, ms', better: 'lower', goal: true, digits: 0, values: results.map((r) => first(r, (f) => median(f.ms))) },
    { metric: 'same, first name of the run (with ACME account registration), ms', better: 'lower', goal: false, digits: 0, values: results.map((r) => first(r, (f) => f.warmupMs)) },
    { metric: `${label} new names from the local CA (8 at a time): wall time, s`, better: 'lower', goal: true, digits: 2, values: results.map((r) => issued(r, (i) => i.seconds)) },
    { metric: `same: failed first handshakes`, better: 'lower', goal: false, digits: 0, values: results.map((r) => issued(r, (i) => i.failed)) },
    { metric: `same: certificates stored when the handshakes were over`, better: 'higher', goal: false, digits: 0, values: results.map((r) => issued(r, (i) => i.stored)) },
    { metric: `same: server CPU per name asked for, ms`, better: 'lower', goal: false, digits: 2, values: results.map((r) => issued(r, (i) => (i.cpuSeconds * 1000) / i.count)) },
    { metric: `same: server CPU per stored certificate, ms`, better: 'lower', goal: false, digits: 2, values: results.map((r) => issued(r, (i) => (i.stored > 0 ? (i.cpuSeconds * 1000) / i.stored : 'no certificate stored'))) },
    { metric: `same: wall time per stored certificate, ms`, better: 'lower', goal: false, digits: 2, values: results.map((r) => issued(r, (i) => (i.stored > 0 ? (i.seconds * 1000) / i.stored : 'no certificate stored'))) },
    { metric: `same: VmRSS idle before, MiB`, better: 'lower', goal: false, digits: 1, values: results.map((r) => issued(r, (i) => MiB(i.idleRssKiB))) },
    { metric: `same: VmRSS with the ${label} certificates, MiB`, better: 'lower', goal: true, digits: 1, values: results.map((r) => issued(r, (i) => MiB(i.rssKiB))) },
    { metric: `same: VmHWM, MiB`, better: 'lower', goal: false, digits: 1, values: results.map((r) => issued(r, (i) => MiB(i.hwmKiB))) },
  ];
  const each = results.map((r) => `- ${r.label}: ${typeof r.firstHandshake === 'object' ? `warm-up ${r.firstHandshake.warmupMs.toFixed(0)} ms, then ${r.firstHandshake.ms.map((m) => m.toFixed(0)).join(', ')} ms` : (r.firstHandshake ?? 'not measured')}`);
  const failures = results.flatMap((r) => (typeof r.issuance === 'object' && r.issuance.failures.length > 0 ? [`- ${r.label}'s failed first handshakes (local CA): ${r.issuance.failures.join('; ')}`] : []));
  return `${figureTable(columns, rows, 'od-')}

First handshakes on Pebble, each:

${each.join('\n')}
${failures.length > 0 ? `\n${failures.join('\n')}\n` : ''}
Method: Pebble (\`test/helpers/pebble.ts\`, one per candidate, \`PEBBLE_VA_NOSLEEP=1\`, \`PEBBLE_AUTHZREUSE=0\`, \`PEBBLE_WFE_NONCEREJECT=0\`: every name is one full validation, HTTP-01 or TLS-ALPN-01 on the candidate's own ports) and a catch-all on-demand site with an ask endpoint allowing every name; each product uses its own ACME client and defaults. One warm-up name registers the account; then new names one after another, each timed from \`tls.connect\` to a handshake that verifies against Pebble's root. Local CA: a fresh storage, the product's own local CA (\`local_certs\`), one warm-up name, then ${label} new names 8 at a time, each a first handshake that must get a certificate naming it; the certificates stored for those names are counted (\`certificates/<issuer>/<name>/<name>.crt\`, both products' layout) when the handshakes are over, with the CPU figure, since a product that fails a first handshake may store nothing for it; VmRSS one second after the last.`;
}
