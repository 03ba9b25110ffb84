/**
 * The `workers` mode (issue 13): my-server `workers 1` against `workers 2`, and Caddy with
 * GOMAXPROCS 1 against 2, on one site answering a 1 KiB `respond` over HTTPS/1.1 (wrk) and HTTP/2
 * (h2load). Servers and load generators run unpinned, since a second worker needs a second core.
 * CPU comes from /proc: each server's whole process tree (the primary and its workers), and each
 * worker on its own, which gives the balance between the two workers.
 *
 * Reported: req/s (best run), requests per server CPU-second (all valid runs), scaling per added
 * core (2-core best ÷ 1-core best) and the workers' CPU split. Same interleaving as the other
 * modes: all four instances up at once, each load once per round for each in turn.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../src/errors.ts';
import { BODY_BYTES, CANDIDATES, NODE_FLAGS, type Candidate, type CandidateId } from './candidates.ts';
import { runH2load, runWrk, type H2loadResult, type LoadTarget, type WrkResult } from './load.ts';
import { startCandidate, type Instance, type RunContext } from './measure.ts';
import { treeStats } from './processes.ts';
import { figureTable, type Figure, type FigureRow } from './report.ts';

const MAIN = join(import.meta.dirname, '..', 'dist', 'src', 'main.js');
const WARM_UP_SECONDS = 2;
const CLOCK_TICKS = 100; // USER_HZ on Linux x86-64 and arm64.

/** One load run: the server tree's CPU, and each worker's when there are several. */
export interface WorkersSample {
  readonly result: WrkResult | H2loadResult;
  readonly cpuSeconds: number;
  /** CPU seconds of each worker process (not the primary) during the run; empty for one process. */
  readonly workerCpuSeconds: readonly number[];
  /** The primary's own CPU seconds during the run (`workers 2` only). */
  readonly primaryCpuSeconds?: number;
}

export interface WorkersResult {
  readonly id: CandidateId;
  /** `my-server workers 2`, `Caddy GOMAXPROCS 1`, … */
  readonly label: string;
  readonly cores: 1 | 2;
  version: string;
  failure?: string;
  readonly h1: WorkersSample[];
  readonly h2: WorkersSample[];
}

const BODY = 'x'.repeat(BODY_BYTES);

function site(c: { readonly sites: readonly { name: string; certFile: string; keyFile: string }[] }): string {
  return c.sites.map((s) => `${s.name} {\n\ttls ${s.certFile} ${s.keyFile}\n\trespond "${BODY}"\n}\n`).join('');
}

/** my-server with `workers N`, from dist/ as the other modes run it. */
function myServer(workers: 1 | 2): Candidate {
  const base = CANDIDATES.find((c) => c.id === 'my-server')!;
  return {
    id: 'my-server',
    label: `my-server workers ${workers}`,
    version: () => base.version(),
    async prepare(c) {
      const configFile = join(c.dir, 'Proxyfile');
      await writeFile(
        configFile,
        `{\n\thttp_port ${c.httpPort}\n\thttps_port ${c.httpsPort}\n\tdefault_bind 127.0.0.1\n\tadmin off\n\tworkers ${workers}\n\tstorage file ${join(c.dir, 'storage')}\n\tlog {\n\t\tlevel error\n\t}\n}\n${site(c)}`,
      );
      return { command: process.execPath, args: [...NODE_FLAGS, MAIN, 'run', '--config', configFile], configFile };
    },
  };
}

function caddy(procs: 1 | 2): Candidate {
  const base = CANDIDATES.find((c) => c.id === 'caddy')!;
  return {
    id: 'caddy',
    label: `Caddy GOMAXPROCS ${procs}`,
    version: () => base.version(),
    async prepare(c) {
      const configFile = join(c.dir, 'Caddyfile');
      await writeFile(
        configFile,
        `{\n\tadmin off\n\thttp_port ${c.httpPort}\n\thttps_port ${c.httpsPort}\n\tdefault_bind 127.0.0.1\n\tstorage file_system ${join(c.dir, 'data')}\n\tskip_install_trust\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n${site(c)}`,
      );
      const env = { ...process.env, HOME: c.dir, XDG_CONFIG_HOME: join(c.dir, 'config'), XDG_DATA_HOME: join(c.dir, 'data'), GOMAXPROCS: String(procs) };
      return { command: 'caddy', args: ['run', '--config', configFile, '--adapter', 'caddyfile'], env, configFile };
    },
  };
}

/** user + system CPU seconds of one process, 0 once it is gone. */
async function processCpu(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

async function cpuSnapshot(instance: Instance): Promise<{ tree: number; primary: number; workers: Map<number, number> }> {
  const root = instance.started.pid;
  const stats = await treeStats(root);
  const workers = new Map<number, number>();
  for (const pid of stats.pids) if (pid !== root) workers.set(pid, await processCpu(pid));
  return { tree: stats.cpuSeconds, primary: await processCpu(root), workers };
}

async function measure(instance: Instance, load: () => Promise<WrkResult | H2loadResult>, several: boolean): Promise<WorkersSample> {
  const before = await cpuSnapshot(instance);
  const result = await load();
  const after = await cpuSnapshot(instance);
  const cpuSeconds = after.tree - before.tree;
  if (!several) return { result, cpuSeconds, workerCpuSeconds: [] };
  // Workers alive through the whole run; a worker replaced mid-run would show as missing.
  const workerCpuSeconds = [...after.workers].filter(([pid]) => before.workers.has(pid)).map(([pid, cpu]) => cpu - (before.workers.get(pid) ?? 0));
  return { result, cpuSeconds, workerCpuSeconds, primaryCpuSeconds: after.primary - before.primary };
}

export async function runWorkers(run: RunContext, options: { readonly seconds: number; readonly rounds: number }, progress: (m: string) => void): Promise<WorkersResult[]> {
  // Unpinned: a server with two workers needs both cores, and so the load shares them.
  const unpinned: RunContext = { ...run, mode: 'all-cores', commands: [], configs: [] };
  const allCpus = `0-${availableParallelism() - 1}`;
  const setups: [Candidate, 1 | 2][] = [
    [myServer(1), 1],
    [myServer(2), 2],
    [caddy(1), 1],
    [caddy(2), 2],
  ];
  const entries: { result: WorkersResult; instance?: Instance }[] = [];
  try {
    for (const [candidate, cores] of setups) {
      progress(`workers: ${candidate.label}: starting`);
      const result: WorkersResult = { id: candidate.id, label: candidate.label, cores, version: await candidate.version(), h1: [], h2: [] };
      const instance = await startCandidate(unpinned, candidate, [run.certs.main], `workers-${cores}`, 60_000).catch((err: unknown) => {
        if (run.signal.aborted) throw err;
        return describeError(err);
      });
      if (typeof instance === 'string') {
        result.failure = instance;
        entries.push({ result });
      } else entries.push({ result, instance });
    }
    const target = (i: Instance): LoadTarget => ({ port: i.port, host: run.host, cpus: allCpus, signal: run.signal });
    const live = entries.filter((e): e is { result: WorkersResult; instance: Instance } => e.instance !== undefined);
    for (const e of live) await runWrk(target(e.instance), WARM_UP_SECONDS); // JIT and pools warm; not reported
    for (let round = 0; round < options.rounds; round++) {
      const order = live.map((_, i) => live[(i + round) % live.length]).filter((e) => e !== undefined);
      for (const e of order) {
        const several = e.result.id === 'my-server' && e.result.cores === 2;
        progress(`workers round ${round + 1}/${options.rounds}: ${e.result.label}: wrk`);
        e.result.h1.push(await measure(e.instance, () => runWrk(target(e.instance), options.seconds), several));
        run.signal.throwIfAborted();
        progress(`workers round ${round + 1}/${options.rounds}: ${e.result.label}: h2load`);
        e.result.h2.push(await measure(e.instance, () => runH2load(target(e.instance), options.seconds), several));
        run.signal.throwIfAborted();
      }
    }
    for (const e of live) {
      const [h1, h2] = [e.result.h1[0], e.result.h2[0]];
      for (const s of [h1, h2]) if (s) run.commands.push(s.result.command.replace(String(e.instance.port), '$PORT'));
    }
    run.commands.push(...unpinned.commands);
  } finally {
    for (const e of entries) if (e.instance) await run.processes.stop(e.instance.started, 8_000);
  }
  return entries.map((e) => e.result);
}

const valid = (samples: readonly WorkersSample[]): WorkersSample[] => samples.filter((s) => s.result.invalid === undefined);
const rps = (s: WorkersSample): number => s.result.requestsPerSecond;

function bestRate(r: WorkersResult | undefined, samples: (r: WorkersResult) => readonly WorkersSample[]): Figure {
  if (r === undefined) return 'not measured';
  if (r.failure) return `did not start or serve: ${r.failure}`;
  const ok = valid(samples(r));
  if (ok.length === 0) return samples(r)[0]?.result.invalid ?? 'not measured';
  return Math.max(...ok.map(rps));
}

function perCpu(r: WorkersResult | undefined, samples: (r: WorkersResult) => readonly WorkersSample[]): Figure {
  if (r === undefined) return 'not measured';
  if (r.failure) return `did not start or serve: ${r.failure}`;
  const ok = valid(samples(r));
  const cpu = ok.reduce((sum, s) => sum + s.cpuSeconds, 0);
  if (ok.length === 0 || cpu <= 0) return samples(r)[0]?.result.invalid ?? 'not measured';
  return ok.reduce((sum, s) => sum + rps(s) * s.result.seconds, 0) / cpu;
}

/** The less busy worker's share of the workers' CPU over all valid runs, in %: 50 is an even split. */
function balance(r: WorkersResult | undefined, samples: (r: WorkersResult) => readonly WorkersSample[]): Figure {
  if (r === undefined) return 'not measured';
  if (r.id !== 'my-server') return 'one process: no workers to balance';
  if (r.failure) return `did not start or serve: ${r.failure}`;
  const ok = valid(samples(r)).filter((s) => s.workerCpuSeconds.length === 2);
  if (ok.length === 0) return 'no run with both workers alive throughout';
  const shares = ok.map((s) => {
    const [a = 0, b = 0] = s.workerCpuSeconds;
    return a + b > 0 ? (100 * Math.min(a, b)) / (a + b) : Number.NaN;
  });
  return Math.min(...shares);
}

function ratio(a: Figure, b: Figure): Figure {
  if (typeof a === 'number' && typeof b === 'number' && b > 0) return a / b;
  return typeof a === 'string' ? a : typeof b === 'string' ? b : 'not measured';
}

function describe(s: WorkersSample): string {
  if (s.result.invalid) return `invalid (${s.result.invalid})`;
  const split = s.workerCpuSeconds.length > 0 ? ` (workers ${s.workerCpuSeconds.map((c) => `${c.toFixed(1)}`).join(' + ')} s, primary ${(s.primaryCpuSeconds ?? 0).toFixed(2)} s)` : '';
  return `${Math.round(rps(s))} req/s, CPU ${s.cpuSeconds.toFixed(1)} s${split}`;
}

export function renderWorkers(results: readonly WorkersResult[], options: { readonly seconds: number; readonly rounds: number }): string {
  const pick = (id: CandidateId, cores: 1 | 2): WorkersResult | undefined => results.find((r) => r.id === id && r.cores === cores);
  const columns = [
    { id: 'my-server', label: 'my-server' },
    { id: 'caddy', label: 'Caddy' },
  ] as const;
  const rows: FigureRow[] = [];
  for (const [label, samples] of [
    ['HTTPS/1.1', (r: WorkersResult) => r.h1],
    ['HTTP/2', (r: WorkersResult) => r.h2],
  ] as const) {
    const per = (cores: 1 | 2, f: typeof bestRate): Figure[] => columns.map((c) => f(pick(c.id, cores), samples));
    const [r1, r2] = [per(1, bestRate), per(2, bestRate)];
    rows.push({ metric: `${label}: req/s, 1 core (workers 1 / GOMAXPROCS 1)`, better: 'higher', goal: false, digits: 0, values: r1 });
    rows.push({ metric: `${label}: req/s, 2 cores (workers 2 / GOMAXPROCS 2)`, better: 'higher', goal: false, digits: 0, values: r2 });
    rows.push({ metric: `${label}: scaling, 2 cores ÷ 1 core`, better: 'higher', goal: true, digits: 2, values: columns.map((_, i) => ratio(r2[i], r1[i])) });
    rows.push({ metric: `${label}: requests per server CPU-second, 1 core`, better: 'higher', goal: false, digits: 0, values: per(1, perCpu) });
    rows.push({ metric: `${label}: requests per server CPU-second, 2 cores`, better: 'higher', goal: true, digits: 0, values: per(2, perCpu) });
    rows.push({ metric: `${label}: less busy worker's share of the workers' CPU, % (50 = even; lowest run)`, better: 'higher', goal: false, digits: 1, values: per(2, balance) });
  }
  const runs = results.map((r) =>
    r.failure
      ? `- ${r.label}: did not start or serve: ${r.failure}`
      : `- ${r.label} (${r.version}): HTTPS/1.1: ${r.h1.map(describe).join('; ')} · HTTP/2: ${r.h2.map(describe).join('; ')}`,
  );
  const cores = availableParallelism();
  const shared =
    cores <= 2
      ? `This machine has ${cores} CPUs and the load generators run on the same ones, unpinned: with 2 cores for the server the load generator takes CPU from it, so the 2-core req/s and the scaling row are floors, not what a second core gives a server on a host with idle cores. Requests per server CPU-second is the figure that compares like with like here.`
      : `This machine has ${cores} CPUs; servers and load generators are unpinned and share them.`;
  return `${figureTable(columns, rows, 'workers-')}

Runs (per round):

${runs.join('\n')}

Method: each server serves one site (\`localhost\`, the user-managed P-256 certificate of the other modes, TLS 1.3) answering \`respond\` with a ${BODY_BYTES}-byte body; my-server from \`dist/\` with \`workers 1\` (one process) and \`workers 2\` (a primary and two workers binding the port with SO_REUSEPORT), Caddy with \`GOMAXPROCS=1\` and \`2\`. HTTPS/1.1: \`wrk -t1 -c64 -d${options.seconds}s\`; HTTP/2: \`h2load -t1 -c8 -m8 -D${options.seconds}\`; after a ${WARM_UP_SECONDS} s warm-up, ${options.rounds} round(s), all four instances up at once and the order rotating each round. Servers and load generators unpinned (\`taskset -c ${`0-${cores - 1}`}\`). ${shared} req/s from the best valid run; requests per server CPU-second = all valid runs' requests ÷ the user+system CPU seconds of the server's whole process tree from /proc (primary and workers); scaling = best 2-core req/s ÷ best 1-core req/s (goal row: my-server's ≥ Caddy's). Balance: each worker's own CPU seconds from /proc/PID/stat during each run, the less busy one's share of both (the kernel hashes each new connection to one SO_REUSEPORT socket, so 64 wrk connections or 8 h2load connections split unevenly by chance); the lowest over the runs is shown, every run's split is under Runs.`;
}
