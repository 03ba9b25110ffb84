/**
 * `npm run bench`: my-server against Caddy and nginx terminating TLS in front of one nginx
 * upstream, on loopback, in one run. Prints a markdown table and writes docs/benchmarks.md.
 *
 *   node bench/run.ts [--mode one-core|all-cores] [--only my-server,caddy,nginx] [--seconds 10] [--no-write]
 *
 * Layout (one-core, as FACTS.md measured): the candidate pinned to CPU 1 with one worker
 * (GOMAXPROCS=1, worker_processes 1, my-server as it starts by default); the load generators
 * and the upstream pinned to CPU 0. A candidate that does not start or serve gets "n/a" cells;
 * every process started is stopped however the run ends.
 */
import { request } from 'node:https';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep } from '../src/util/backoff.ts';
import { describeError } from '../src/errors.ts';
import { createBenchCertificates, type BenchCertificates } from './certs.ts';
import { BODY_BYTES, CANDIDATES, writeUpstreamConfig, type Candidate, type Mode } from './candidates.ts';
import { handshakeEach, runH2load, runHandshakes, runWrk, type LoadTarget } from './load.ts';
import { Processes, runTool, treeStats, waitForPort, type Started } from './processes.ts';
import { renderPage, renderTable, type CandidateResult, type ManyCertsResult } from './report.ts';

/** The measured site's name: it must resolve to 127.0.0.1 for wrk and h2load, which take SNI from the URL. */
const HOST = 'localhost';
const EXTRA_SITES = 1000;
const LOAD_CPUS = '0';
const WARM_UP_SECONDS = 3;
const HANDSHAKE_SECONDS = 8;
/** Enough connections in flight to keep a one-core server busy while others are being set up. */
const HANDSHAKE_CONCURRENCY = 32;
const START_TIMEOUT_MS = 20_000;
/** 1,001 certificates to read and parse: allow for a slow start rather than call it a failure. */
const MANY_CERTS_START_TIMEOUT_MS = 90_000;

interface Options {
  readonly mode: Mode;
  readonly only: readonly string[];
  readonly seconds: number;
  readonly write: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      mode: { type: 'string', default: 'one-core' },
      only: { type: 'string', default: CANDIDATES.map((c) => c.id).join(',') },
      seconds: { type: 'string', default: '10' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  if (values.mode !== 'one-core' && values.mode !== 'all-cores') throw new Error(`--mode must be one-core or all-cores, not ${values.mode}`);
  const seconds = Number(values.seconds);
  if (!(seconds >= 1 && seconds <= 60)) throw new Error('--seconds must be between 1 and 60');
  return { mode: values.mode, only: values.only.split(','), seconds, write: !values['no-write'] };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** One GET through the candidate, verified against the bench root: 200 and the upstream's body. */
function probe(port: number, servername: string, ca: string, signal: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, servername, ca, path: '/', headers: { host: servername }, agent: false, timeout: 5000, signal }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve(res.statusCode === 200 && bytes === BODY_BYTES ? undefined : `status ${res.statusCode}, ${bytes} bytes`));
      res.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
}

async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-3).join(' / ').slice(0, 400);
}

interface Instance {
  readonly started: Started;
  readonly port: number;
  readonly startupSeconds: number;
}

interface Run {
  readonly options: Options;
  readonly processes: Processes;
  readonly signal: AbortSignal;
  readonly dir: string;
  readonly certs: BenchCertificates;
  readonly upstreamPort: number;
  readonly commands: string[];
}

/** Starts `candidate` serving `sites`; a string says why it did not start or serve. */
async function startCandidate(run: Run, candidate: Candidate, sites: BenchCertificates['extra'], tag: string, timeoutMs: number): Promise<Instance | string> {
  const dir = join(run.dir, `${candidate.id}-${tag}`);
  await mkdir(dir, { recursive: true });
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const launch = await candidate.prepare({ dir, httpPort, httpsPort, upstreamPort: run.upstreamPort, sites, mode: run.options.mode });
  const cpus = run.options.mode === 'one-core' ? '1' : undefined;
  const envNote = launch.env?.GOMAXPROCS ? `GOMAXPROCS=${launch.env.GOMAXPROCS} ` : '';
  run.commands.push(`# ${candidate.label} (${tag}), config ${launch.configFile}`, `${envNote}${cpus ? `taskset -c ${cpus} ` : ''}${[launch.command, ...launch.args].join(' ')}`);
  const logFile = join(dir, 'output.log');
  const t0 = performance.now();
  const started = run.processes.start(`${candidate.id}-${tag}`, launch.command, launch.args, { cpus, env: launch.env, logFile });
  const exited = started.exited.then((code) => `exited with ${String(code)}`);
  const ready = (async (): Promise<string | undefined> => {
    const deadline = Date.now() + timeoutMs;
    if (!(await waitForPort(httpsPort, timeoutMs, run.signal))) return `nothing listening on ${httpsPort} after ${timeoutMs} ms`;
    let failure: string | undefined = 'not probed';
    while (Date.now() < deadline && failure !== undefined) {
      failure = await probe(httpsPort, HOST, run.certs.rootPem, run.signal);
      if (failure !== undefined) await sleep(200, run.signal);
    }
    return failure;
  })();
  const failure = await Promise.race([ready, exited]);
  if (failure !== undefined) {
    await run.processes.stop(started);
    return `${failure}; ${await logTail(logFile)}`;
  }
  return { started, port: httpsPort, startupSeconds: (performance.now() - t0) / 1000 };
}

async function measureLoad(run: Run, candidate: Candidate, version: string): Promise<CandidateResult> {
  const base = { id: candidate.id, label: candidate.label, version };
  const instance = await startCandidate(run, candidate, [run.certs.main], 'load', START_TIMEOUT_MS);
  if (typeof instance === 'string') return { ...base, failure: instance };
  const { started, port } = instance;
  const target: LoadTarget = { port, host: HOST, cpus: LOAD_CPUS, signal: run.signal };
  try {
    await sleep(1000, run.signal);
    const idleRssKiB = (await treeStats(started.pid)).rssKiB;
    await runWrk(target, WARM_UP_SECONDS); // JIT and connection pools warm, not reported
    const cpuBeforeWrk = (await treeStats(started.pid)).cpuSeconds;
    const wrk = await runWrk(target, run.options.seconds);
    const wrkCpuSeconds = (await treeStats(started.pid)).cpuSeconds - cpuBeforeWrk;
    const h2 = await runH2load(target, run.options.seconds);
    const cpuBeforeHandshakes = (await treeStats(started.pid)).cpuSeconds;
    const handshake = await runHandshakes(target, HANDSHAKE_SECONDS, HANDSHAKE_CONCURRENCY);
    const handshakeServerCpuSeconds = (await treeStats(started.pid)).cpuSeconds - cpuBeforeHandshakes;
    const peakRssKiB = (await treeStats(started.pid)).peakRssKiB;
    for (const c of [wrk.command, h2.command, typeof handshake === 'string' ? '' : handshake.command]) if (c) run.commands.push(c.replace(String(port), '$PORT'));
    return { ...base, idleRssKiB, wrk, wrkCpuSeconds, h2, handshake, handshakeServerCpuSeconds, peakRssKiB };
  } finally {
    await run.processes.stop(started);
  }
}

async function measureManyCerts(run: Run, candidate: Candidate): Promise<ManyCertsResult | string> {
  const sites = [run.certs.main, ...run.certs.extra];
  const instance = await startCandidate(run, candidate, sites, 'certs', MANY_CERTS_START_TIMEOUT_MS);
  if (typeof instance === 'string') return instance;
  try {
    const failedNames = await handshakeEach(instance.port, run.certs.extra.map((s) => s.name), 8, run.signal);
    await sleep(1000, run.signal);
    const { rssKiB } = await treeStats(instance.started.pid);
    return { sites: sites.length, startupSeconds: instance.startupSeconds, rssKiB, failedNames };
  } finally {
    await run.processes.stop(instance.started);
  }
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
    process.stderr.write(`bench: generating ${EXTRA_SITES + 1} certificates\n`);
    const certs = await createBenchCertificates(dir, HOST, EXTRA_SITES);
    const upstreamPort = await freePort();
    const upstream = await writeUpstreamConfig(join(dir, 'upstream'), upstreamPort);
    const upstreamProcess = processes.start('upstream', upstream.command, upstream.args, { cpus: LOAD_CPUS, logFile: join(dir, 'upstream', 'output.log') });
    if (!(await waitForPort(upstreamPort, 10_000, controller.signal))) throw new Error(`starting the nginx upstream: ${await logTail(join(dir, 'upstream', 'output.log'))}`);
    const commands = [`# upstream`, `taskset -c ${LOAD_CPUS} ${[upstream.command, ...upstream.args].join(' ')}`];
    const run: Run = { options, processes, signal: controller.signal, dir, certs, upstreamPort, commands };
    const results: CandidateResult[] = [];
    for (const candidate of selected) {
      process.stderr.write(`bench: ${candidate.label}: load\n`);
      const version = versions.get(candidate.label) ?? 'unknown';
      let result: CandidateResult;
      try {
        result = await measureLoad(run, candidate, version);
      } catch (err) {
        if (controller.signal.aborted) throw err;
        result = { id: candidate.id, label: candidate.label, version, failure: describeError(err) };
      }
      if (!result.failure) {
        process.stderr.write(`bench: ${candidate.label}: ${EXTRA_SITES} certificates\n`);
        const manyCerts = await measureManyCerts(run, candidate).catch((err: unknown) => {
          if (controller.signal.aborted) throw err;
          return describeError(err);
        });
        result = { ...result, manyCerts };
      }
      results.push(result);
      process.stderr.write(`${renderTable(results)}\n\n`);
    }
    await processes.stop(upstreamProcess);
    facts.push(['load average at end (1/5/15 min)', loadavg().map((l) => l.toFixed(2)).join(' / ')]);
    const page = renderPage({
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      mode: options.mode,
      machine: facts,
      results,
      commands,
      notes: methodNotes(options),
      durationSeconds: (performance.now() - began) / 1000,
    });
    process.stdout.write(`${renderTable(results)}\n`);
    if (options.write) {
      const out = join(import.meta.dirname, '..', 'docs', 'benchmarks.md');
      await writeFile(out, page);
      process.stderr.write(`bench: wrote ${out}\n`);
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
    `Upstream: one nginx worker on 127.0.0.1 answering 200 with a ${BODY_BYTES}-byte body; every proxy keeps upstream connections alive (nginx: \`keepalive 64\`).`,
    `Site \`${HOST}\` (wrk and h2load send SNI and Host from the URL, so the name must resolve to 127.0.0.1), user-managed ECDSA P-256 certificate (leaf + intermediate) from a throwaway CA, TLS 1.3, X25519 key exchange.`,
    `HTTPS/1.1: \`wrk -t1 -c64 -d${options.seconds}s --latency\` after a ${WARM_UP_SECONDS} s warm-up run; p50/p99 from wrk's latency distribution. HTTP/2: \`h2load -t1 -c8 -m8\` (the same 64 requests in flight). Runs with any non-2xx answer or failed request are reported as n/a.`,
    `Full handshakes: \`bench/handshake-client.ts\`, ${HANDSHAKE_CONCURRENCY} concurrent loops for ${HANDSHAKE_SECONDS} s, each a fresh TLS 1.3 connection with no session or ticket offered (resumed handshakes are counted and would void the figure), closed gracefully after the handshake, no HTTP request. It sends no request so the proxy's TLS work is measured, not its upstream hop. On this 2-CPU layout one client core can be the limit for fast servers (its CPU time is in the table notes below), so the per-CPU-second row (handshakes ÷ the proxy's user+system CPU seconds from /proc) is the figure that compares the servers' own cost.`,
    'Memory: VmRSS and VmHWM from /proc/<pid>/status summed over the proxy and its descendants (nginx master + worker, cluster workers), so shared pages of forked workers count once per process. Peak = VmHWM after the loads above.',
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
