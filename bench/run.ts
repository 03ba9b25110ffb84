/**
 * `npm run bench`: my-server against Caddy and nginx terminating TLS in front of one nginx
 * upstream, on loopback, in one run. Prints a markdown table and writes docs/benchmarks.md.
 *
 *   node bench/run.ts [--mode one-core|all-cores] [--only my-server,caddy,nginx] [--seconds 10] [--rounds 2] [--no-write]
 *
 * Layout (one-core, as FACTS.md measured): the candidates pinned to CPU 1 with one worker
 * (GOMAXPROCS=1, worker_processes 1, my-server as it starts by default); the load generators
 * and the upstream pinned to CPU 0. All candidates run at once (idle ones cost nothing) and the
 * loads are interleaved round by round, so slow phases of a shared machine hit every candidate
 * alike. A candidate that does not start or serve gets "n/a" cells; every process started is
 * stopped however the run ends.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeError } from '../src/errors.ts';
import { sleep } from '../src/util/backoff.ts';
import { BODY_BYTES, CANDIDATES, writeUpstreamConfig, type Candidate, type Mode } from './candidates.ts';
import { createBenchCertificates } from './certs.ts';
import { runAbuse } from './abuse.ts';
import { runH2load, runHandshakes, runWrk } from './load.ts';
import { freePort, loadTarget, logTail, measureManyCerts, startCandidate, withCpu, type Instance, type RunContext } from './measure.ts';
import { Processes, runTool, treeStats, waitForPort } from './processes.ts';
import { renderPage, renderTable, type CandidateResult } from './report.ts';

/** The measured site's name: it must resolve to 127.0.0.1 for wrk and h2load, which take SNI from the URL. */
const HOST = 'localhost';
const EXTRA_SITES = 1000;
const LOAD_CPUS = '0';
const CANDIDATE_CPUS = '1';
const WARM_UP_SECONDS = 3;
const HANDSHAKE_SECONDS = 8;
/** Enough connections in flight to keep a one-core server busy with handshakes. */
const HANDSHAKE_CONCURRENCY = 32;
/**
 * The one key exchange group the handshake client offers. With Node's default key shares my-server
 * (Node's OpenSSL 3.5) negotiates X25519MLKEM768, while Caddy 2.6.2 (Go 1.19) and nginx (Debian's
 * OpenSSL 3.0) can only do X25519: offering X25519 alone makes every server do the same work.
 */
const HANDSHAKE_GROUPS = 'X25519';
const START_TIMEOUT_MS = 20_000;
/** 1,001 certificates to read and parse: allow for a slow start rather than call it a failure. */
const MANY_CERTS_START_TIMEOUT_MS = 90_000;

interface Options {
  readonly mode: Mode;
  readonly only: readonly string[];
  readonly seconds: number;
  readonly rounds: number;
  readonly write: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      mode: { type: 'string', default: 'one-core' },
      only: { type: 'string', default: CANDIDATES.map((c) => c.id).join(',') },
      seconds: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '2' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  if (values.mode !== 'one-core' && values.mode !== 'all-cores') throw new Error(`--mode must be one-core or all-cores, not ${values.mode}`);
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  if (!(seconds >= 1 && seconds <= 60)) throw new Error('--seconds must be between 1 and 60');
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 5)) throw new Error('--rounds must be 1 to 5');
  return { mode: values.mode, only: values.only.split(','), seconds, rounds, write: !values['no-write'] };
}

async function machineFacts(selected: readonly Candidate[], signal: AbortSignal): Promise<[string, string][]> {
  const tool = async (cmd: string, args: string[]): Promise<string> => {
    const r = await runTool(cmd, args, { timeoutMs: 10_000, signal });
    return (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
  };
  const facts: [string, string][] = [
    ['CPUs (nproc)', `${availableParallelism()} × ${cpus()[0]?.model ?? 'unknown'}`],
    ['memory', `${Math.round(totalmem() / 2 ** 30)} GiB`],
    ['kernel', release()],
    ['load average at start (1/5/15 min)', loadavg().map((l) => l.toFixed(2)).join(' / ')],
    ['node', process.version],
  ];
  for (const c of selected) facts.push([c.label, await c.version()]);
  facts.push(['wrk', await tool('wrk', ['--version'])], ['h2load', await tool('h2load', ['--version'])], ['openssl', await tool('openssl', ['version'])]);
  return facts;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Entry = { candidate: Candidate; instance?: Instance; result: Mutable<CandidateResult> & { wrk: CandidateResult['wrk'][number][]; h2: CandidateResult['h2'][number][]; handshake: CandidateResult['handshake'][number][] } };

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Loads in rounds, one kind at a time across all candidates, starting each round with the next candidate. */
async function measureRounds(run: RunContext, options: Options, entries: readonly Entry[]): Promise<void> {
  const live = entries.filter((e): e is Entry & { instance: Instance } => e.instance !== undefined);
  for (const e of live) {
    await sleep(1000, run.signal);
    e.result.idleRssKiB = (await treeStats(e.instance.started.pid)).rssKiB;
    progress(`${e.result.label}: warm-up`);
    await runWrk(loadTarget(run, e.instance), WARM_UP_SECONDS); // JIT, pools and caches warm; not reported
    run.signal.throwIfAborted();
  }
  for (let round = 0; round < options.rounds; round++) {
    const order = live.map((_, i) => live[(i + round) % live.length]).filter((e) => e !== undefined);
    for (const e of order) {
      progress(`round ${round + 1}/${options.rounds}: ${e.result.label}: wrk`);
      e.result.wrk.push(await withCpu(e.instance, () => runWrk(loadTarget(run, e.instance), options.seconds)));
      run.signal.throwIfAborted();
    }
    for (const e of order) {
      progress(`round ${round + 1}/${options.rounds}: ${e.result.label}: h2load`);
      e.result.h2.push(await withCpu(e.instance, () => runH2load(loadTarget(run, e.instance), options.seconds)));
      run.signal.throwIfAborted();
    }
    for (const e of order) {
      progress(`round ${round + 1}/${options.rounds}: ${e.result.label}: handshakes`);
      e.result.handshake.push(await withCpu(e.instance, () => runHandshakes(loadTarget(run, e.instance), HANDSHAKE_SECONDS, HANDSHAKE_CONCURRENCY, HANDSHAKE_GROUPS)));
      run.signal.throwIfAborted();
    }
  }
  for (const e of live) e.result.peakRssKiB = (await treeStats(e.instance.started.pid)).peakRssKiB;
  // After the peak is read, so the abuse phase does not move the figures measured before it.
  for (const e of live) {
    progress(`${e.result.label}: cancelled streams and rapid reset`);
    e.result.abuse = await runAbuse(loadTarget(run, e.instance)).catch((err: unknown) => {
      if (run.signal.aborted) throw err;
      return describeError(err);
    });
    await sleep(1000, run.signal);
    e.result.abuseRssKiB = (await treeStats(e.instance.started.pid)).rssKiB;
  }
  const first = live[0];
  if (first) {
    const samples = [first.result.wrk[0]?.result, first.result.h2[0]?.result, first.result.handshake[0]?.result];
    for (const s of samples) if (s && typeof s !== 'string') run.commands.push(s.command.replace(String(first.instance.port), '$PORT'));
  }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const began = performance.now();
  const controller = new AbortController();
  const processes = new Processes();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => processes.killAllNow());
  const dir = await mkdtemp(join(tmpdir(), 'my-server-bench-'));
  const selected = CANDIDATES.filter((c) => options.only.includes(c.id));
  try {
    const facts = await machineFacts(selected, controller.signal);
    const versions = new Map(facts);
    progress(`generating ${EXTRA_SITES + 1} certificates`);
    const certs = await createBenchCertificates(dir, HOST, EXTRA_SITES);
    const upstreamPort = await freePort();
    const upstream = await writeUpstreamConfig(join(dir, 'upstream'), upstreamPort);
    const upstreamLog = join(dir, 'upstream', 'output.log');
    processes.start('upstream', upstream.command, upstream.args, { cpus: LOAD_CPUS, logFile: upstreamLog });
    if (!(await waitForPort(upstreamPort, 10_000, controller.signal))) throw new Error(`starting the nginx upstream: ${await logTail(upstreamLog)}`);
    const commands = ['# upstream', `taskset -c ${LOAD_CPUS} ${[upstream.command, ...upstream.args].join(' ')}`];
    const run: RunContext = {
      mode: options.mode,
      processes,
      signal: controller.signal,
      dir,
      certs,
      host: HOST,
      upstreamPort,
      loadCpus: LOAD_CPUS,
      candidateCpus: CANDIDATE_CPUS,
      commands,
      // The body is shown by its length, not its 1,024 bytes.
      configs: [['upstream (nginx)', (await readFile(upstream.configFile, 'utf8')).replace('x'.repeat(BODY_BYTES), `<${BODY_BYTES} × x>`)]],
    };
    const entries: Entry[] = [];
    for (const candidate of selected) {
      progress(`${candidate.label}: starting`);
      const result: Entry['result'] = { id: candidate.id, label: candidate.label, version: versions.get(candidate.label) ?? 'unknown', wrk: [], h2: [], handshake: [] };
      const instance = await startCandidate(run, candidate, [certs.main], 'load', START_TIMEOUT_MS).catch((err: unknown) => {
        if (controller.signal.aborted) throw err;
        return describeError(err);
      });
      if (typeof instance === 'string') {
        progress(`${candidate.label}: ${instance}`);
        result.failure = instance;
        entries.push({ candidate, result });
      } else entries.push({ candidate, instance, result });
    }
    await measureRounds(run, options, entries);
    for (const e of entries) if (e.instance) await processes.stop(e.instance.started);
    for (const e of entries) {
      if (e.result.failure) continue;
      progress(`${e.result.label}: ${EXTRA_SITES} certificates`);
      e.result.manyCerts = await measureManyCerts(run, e.candidate, MANY_CERTS_START_TIMEOUT_MS).catch((err: unknown) => {
        if (controller.signal.aborted) throw err;
        return describeError(err);
      });
    }
    await processes.stopAll();
    facts.push(['load average at end (1/5/15 min)', loadavg().map((l) => l.toFixed(2)).join(' / ')]);
    const results = entries.map((e) => e.result);
    const page = renderPage({
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      mode: options.mode,
      rounds: options.rounds,
      machine: facts,
      results,
      commands: commands.map((c) => c.replaceAll(dir, '$BENCH_DIR')),
      configs: run.configs.map(([label, text]) => [label, text.replaceAll(dir, '$BENCH_DIR')]),
      notes: methodNotes(options),
      durationSeconds: (performance.now() - began) / 1000,
    });
    process.stdout.write(`${renderTable(results)}\n`);
    if (options.write) {
      const out = join(import.meta.dirname, '..', 'docs', 'benchmarks.md');
      await writeFile(out, page);
      progress(`wrote ${out}`);
    }
    return 0;
  } finally {
    await processes.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

function methodNotes(options: Options): string[] {
  const pinning =
    options.mode === 'one-core'
      ? 'Each proxy pinned to CPU 1 (`taskset -c 1`) with one worker: Caddy with `GOMAXPROCS=1`, nginx with `worker_processes 1`, my-server as it starts by default. The load generators and the upstream are pinned to CPU 0.'
      : 'Proxies unpinned with their default worker counts (nginx `worker_processes auto`, Caddy default GOMAXPROCS); the load generators and the upstream stay pinned to CPU 0, so they compete with the proxy for it.';
  return [
    pinning,
    `Upstream: one nginx worker on 127.0.0.1 answering 200 with a ${BODY_BYTES}-byte body; every proxy keeps upstream connections alive (nginx: \`keepalive 64\`). nginx's \`keepalive_requests\` is raised so it keeps client connections open for the whole run, as the others do.`,
    `Site \`${HOST}\` (wrk and h2load send SNI and Host from the URL, so the name must resolve to 127.0.0.1), user-managed ECDSA P-256 certificate (leaf + intermediate) from a throwaway CA, TLS 1.3, X25519 key exchange.`,
    `All candidates run at the same time (idle ones use no CPU); each load runs once per round for every candidate in turn, the order rotating each round, ${options.rounds} round(s). Rates and latencies are from each candidate's best valid run (the highest rate, with that run's own p50/p99), since interference only slows a run down; per-CPU-second figures add up all valid runs.`,
    `HTTPS/1.1: \`wrk -t1 -c64 -d${options.seconds}s --latency\` after a ${WARM_UP_SECONDS} s warm-up run; p50/p99 from wrk's latency distribution. HTTP/2: \`h2load -t1 -c8 -m8 -D${options.seconds} --warm-up-time=1\` (the same 64 requests in flight). Runs with any non-2xx answer or failed request are reported as n/a.`,
    `Full handshakes: \`bench/handshake-client.ts\`, ${HANDSHAKE_CONCURRENCY} concurrent loops for ${HANDSHAKE_SECONDS} s, each a fresh TLS 1.3 connection offering only the ${HANDSHAKE_GROUPS} key share (with Node's default key shares my-server would negotiate X25519MLKEM768, which Caddy 2.6.2 and Debian's OpenSSL 3.0 lack; the group and suite negotiated are listed under Runs) with no session or ticket offered (resumed handshakes are counted and would void the figure), closed gracefully after the handshake, no HTTP request. It sends no request so the proxy's TLS work is measured, not its upstream hop. On this 2-CPU layout one client core can be the limit for fast servers (its CPU time is listed under Runs), so the per-CPU-second row (handshakes ÷ the proxy's user+system CPU seconds from /proc) is the figure that compares the servers' own cost.`,
    'HTTP/2 abuse (after the peak above was read): 10 connections × 1,000 GETs, 20 in flight, each reset (RST_STREAM CANCEL) 0–10 ms after it was sent, then 2,000 HEADERS + RST_STREAM pairs back to back on one connection (the CVE-2023-44487 pattern), then one fresh GET: whether it is answered and how fast, whether the burst got GOAWAY, and VmRSS one second later. `bench/abuse.ts`.',
    'Memory: VmRSS and VmHWM from /proc/<pid>/status summed over the proxy and its descendants (nginx master + worker, cluster workers), so shared pages of forked workers count once per process. Peak = VmHWM after all the loads.',
    `1,000 certificates: a fresh instance with ${EXTRA_SITES + 1} sites, each with its own \`tls cert key\` pair (own key), one handshake to each of the ${EXTRA_SITES} extra names (checking the served certificate names it), then VmRSS one second later.`,
    'Shared machine: other work may run at the same time (see the load averages); ratios from one run carry that noise.',
  ];
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`bench: ${describeError(err)}\n`);
  process.exitCode = 1;
}
