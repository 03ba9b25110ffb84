/**
 * The static-file mode (issue 11): each candidate serves one folder with its own file server
 * (my-server and Caddy `root * DIR` + `file_server`, nginx `root DIR;`) over the measured site's
 * TLS, and wrk (HTTPS/1.1) and h2load (HTTP/2) fetch a 1 KiB and a 1 MiB file. Same layout and
 * interleaving as the proxy mode: candidates pinned to one core, loads on the other, each load
 * once per round for every candidate in turn, CPU from /proc of the candidate's processes.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError } from '../src/errors.ts';
import { BODY_BYTES, type Candidate } from './candidates.ts';
import { runH2load, runWrk, type H2loadResult, type WrkResult } from './load.ts';
import { loadTarget, startCandidate, withCpu, type Instance, type RunContext } from './measure.ts';
import { figureTable, type Figure, type FigureRow, type Sample } from './report.ts';

export interface StaticCase {
  readonly id: string;
  readonly label: string;
  readonly path: string;
  readonly bytes: number;
  readonly protocol: 'h1' | 'h2';
  /** wrk connections, or h2load connections × streams: 64 requests in flight for small files, 16 for large ones. */
  readonly connections: number;
  readonly streams: number;
}

const KIB = 1024;
const MIB = 1024 * 1024;

export const STATIC_CASES: readonly StaticCase[] = [
  { id: '1k-h1', label: '1 KiB file, HTTPS/1.1', path: '/1k.bin', bytes: KIB, protocol: 'h1', connections: 64, streams: 1 },
  { id: '1k-h2', label: '1 KiB file, HTTP/2', path: '/1k.bin', bytes: KIB, protocol: 'h2', connections: 8, streams: 8 },
  { id: '1m-h1', label: '1 MiB file, HTTPS/1.1', path: '/1m.bin', bytes: MIB, protocol: 'h1', connections: 16, streams: 1 },
  { id: '1m-h2', label: '1 MiB file, HTTP/2', path: '/1m.bin', bytes: MIB, protocol: 'h2', connections: 4, streams: 4 },
];

type StaticSample = Sample<WrkResult | H2loadResult>;

export interface StaticResult {
  readonly id: string;
  readonly label: string;
  failure?: string;
  readonly samples: Map<string, StaticSample[]>;
}

/** The served folder: index.html has the upstream body's length, so the readiness probe (GET /, 1,024 bytes) works unchanged. */
async function writeFiles(dir: string): Promise<string> {
  const root = join(dir, 'static-root');
  await mkdir(root, { recursive: true });
  // nginx started as root serves files as its worker user (nobody, www-data): the scratch folder
  // (mkdtemp: 0700) and the root must be traversable by it. Keys in the scratch folder stay 0600.
  await chmod(dir, 0o755);
  await chmod(root, 0o755);
  await writeFile(join(root, 'index.html'), 'x'.repeat(BODY_BYTES), { mode: 0o644 });
  await writeFile(join(root, '1k.bin'), randomBytes(KIB), { mode: 0o644 });
  await writeFile(join(root, '1m.bin'), randomBytes(MIB), { mode: 0o644 });
  return root;
}

async function load(run: RunContext, instance: Instance, c: StaticCase, seconds: number): Promise<StaticSample> {
  const target = { ...loadTarget(run, instance), path: c.path };
  return withCpu(instance, () => (c.protocol === 'h1' ? runWrk(target, seconds, c.connections) : runH2load(target, seconds, c.connections, c.streams)));
}

export async function runStatic(
  run: RunContext,
  candidates: readonly Candidate[],
  options: { readonly seconds: number; readonly rounds: number },
  progress: (m: string) => void,
): Promise<StaticResult[]> {
  const root = await writeFiles(run.dir);
  const entries: { result: StaticResult; instance?: Instance }[] = [];
  try {
    for (const candidate of candidates) {
      progress(`static: ${candidate.label}: starting`);
      const result: StaticResult = { id: candidate.id, label: candidate.label, samples: new Map(STATIC_CASES.map((c) => [c.id, []])) };
      const instance = await startCandidate(run, candidate, [run.certs.main], 'static', 20_000, root).catch((err: unknown) => {
        if (run.signal.aborted) throw err;
        return describeError(err);
      });
      if (typeof instance === 'string') {
        result.failure = instance;
        entries.push({ result });
      } else entries.push({ result, instance });
    }
    const live = entries.filter((e): e is { result: StaticResult; instance: Instance } => e.instance !== undefined);
    for (const e of live) await runWrk({ ...loadTarget(run, e.instance), path: '/1k.bin' }, 2); // warm-up, not reported
    for (let round = 0; round < options.rounds; round++) {
      const order = live.map((_, i) => live[(i + round) % live.length]).filter((e) => e !== undefined);
      for (const c of STATIC_CASES) {
        for (const e of order) {
          progress(`static round ${round + 1}/${options.rounds}: ${e.result.label}: ${c.label}`);
          e.result.samples.get(c.id)?.push(await load(run, e.instance, c, options.seconds));
          run.signal.throwIfAborted();
        }
      }
    }
    const first = live[0];
    if (first) {
      for (const c of STATIC_CASES) {
        const s = first.result.samples.get(c.id)?.[0];
        if (s) run.commands.push(s.result.command.replace(String(first.instance.port), '$PORT'));
      }
    }
  } finally {
    for (const e of entries) if (e.instance) await run.processes.stop(e.instance.started);
  }
  return entries.map((e) => e.result);
}

function rps(s: StaticSample): number {
  return s.result.requestsPerSecond;
}

function valid(samples: readonly StaticSample[]): StaticSample[] {
  return samples.filter((s) => s.result.invalid === undefined);
}

function bestRate(r: StaticResult, c: StaticCase): Figure {
  if (r.failure) return `did not start or serve: ${r.failure}`;
  const all = r.samples.get(c.id) ?? [];
  const ok = valid(all);
  if (ok.length === 0) return all[0]?.result.invalid ?? 'not measured';
  return Math.max(...ok.map(rps));
}

function perCpuSecond(r: StaticResult, c: StaticCase): Figure {
  if (r.failure) return `did not start or serve: ${r.failure}`;
  const all = r.samples.get(c.id) ?? [];
  const ok = valid(all);
  const cpu = ok.reduce((sum, s) => sum + s.cpuSeconds, 0);
  if (ok.length === 0 || cpu <= 0) return all[0]?.result.invalid ?? 'not measured';
  const requests = ok.reduce((sum, s) => sum + rps(s) * s.result.seconds, 0);
  return requests / cpu;
}

export function renderStatic(results: readonly StaticResult[], seconds: number): string {
  const rows: FigureRow[] = [];
  for (const c of STATIC_CASES) {
    const rate = (r: StaticResult): Figure => bestRate(r, c);
    rows.push({ metric: `${c.label}: requests per server CPU-second`, better: 'higher', goal: true, digits: 0, values: results.map((r) => perCpuSecond(r, c)) });
    rows.push({ metric: `${c.label}: req/s`, better: 'higher', goal: false, digits: 0, values: results.map(rate) });
    rows.push({
      metric: `${c.label}: throughput, MiB/s`,
      better: 'higher',
      goal: false,
      digits: 1,
      values: results.map((r) => {
        const v = rate(r);
        return typeof v === 'number' ? (v * c.bytes) / MIB : v;
      }),
    });
  }
  const runs = results.map((r) =>
    r.failure
      ? `- ${r.label}: did not start or serve: ${r.failure}`
      : `- ${r.label}: ${STATIC_CASES.map((c) => `${c.label}: ${(r.samples.get(c.id) ?? []).map((s) => (s.result.invalid ? `invalid (${s.result.invalid})` : `${Math.round(rps(s))} req/s, CPU ${s.cpuSeconds.toFixed(1)} s`)).join('; ')}`).join(' · ')}`,
  );
  return `${figureTable(
    results.map((r) => ({ id: r.id, label: r.label })),
    rows,
    'static-',
  )}

Runs (per round):

${runs.join('\n')}

Method: the candidates serve one folder with their own file server, the products' defaults otherwise (my-server and Caddy \`root * DIR\` + \`file_server\`, nginx \`root DIR;\`), over the same TLS site as the proxy mode (P-256, TLS 1.3). Files \`/1k.bin\` (1,024 bytes) and \`/1m.bin\` (1 MiB), random bytes, so no compression applies. HTTPS/1.1: \`wrk -t1 -c64\` for 1 KiB, \`-c16\` for 1 MiB; HTTP/2: \`h2load -t1 -c8 -m8\` for 1 KiB, \`-c4 -m4\` for 1 MiB; ${seconds} s each, after a 2 s warm-up. Requests per server CPU-second = all valid runs' requests ÷ the server's user+system CPU seconds from /proc (the goal row: my-server ≥ Caddy); req/s and throughput from the best run. With 1 MiB files one client core decrypting the responses is usually the limit, so req/s there says more about the client than the server; the per-CPU-second row does not.`;
}
