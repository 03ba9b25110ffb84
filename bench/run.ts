/**
 * `npm run bench`: my-server against Caddy and nginx on loopback, in one run, in six modes:
 *   proxy      TLS-terminating reverse proxy in front of one nginx upstream (the main table)
 *   static     static files, 1 KiB and 1 MiB over HTTPS/1.1 and HTTP/2 (issue 11)
 *   certs      memory per stored certificate loaded on demand, at --certs counts (issue 12)
 *   on-demand  first handshake → valid certificate on Pebble, and --names local-CA names (issue 12)
 *   matchers   my-server's request-matching cost (issue 9)
 *   workers    my-server `workers 1` vs `workers 2`, Caddy GOMAXPROCS 1 vs 2, unpinned (issue 13)
 * Prints each mode's tables and updates docs/benchmarks.md: each mode's section sits between
 * `bench:` markers and is replaced; everything else in the file, hand-written text and the
 * sections of modes not run this time, is kept.
 *
 *   node bench/run.ts [--modes proxy,static,certs,on-demand,matchers,workers] [--mode one-core|all-cores]
 *     [--only my-server,caddy,nginx] [--seconds 10] [--static-seconds 5] [--rounds 2]
 *     [--certs 1000,10000] [--names 1000] [--first-names 5] [--matcher-requests 20000]
 *     [--cache DIR] [--no-write]
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
import { BODY_BYTES, CANDIDATES, LARGE_BODY_BYTES, LARGE_BODY_PATH, writeUpstreamConfig, type Candidate, type Mode } from './candidates.ts';
import { createBenchCertificates } from './certs.ts';
import { runAbuse } from './abuse.ts';
import { runH2load, runHandshakes, runWrk, type HandshakeResult, type LoadTarget, type WrkResult } from './load.ts';
import { freePort, loadTarget, logTail, measureManyCerts, probe, startCandidate, withCpu, type Instance, type RunContext } from './measure.ts';
import { Processes, runTool, treeStats, waitForPort } from './processes.ts';
import { EMPTY_PAGE, mergeSections, renderCommands, renderProxySection, type CandidateResult, type HandshakeFloor, type ProxyFloor, type Sample, type Section } from './report.ts';
import { runStatic, renderStatic } from './static-mode.ts';
import { certsResults, renderCertMemory, renderOnDemand, runCertMemory, runOnDemand } from './cert-modes.ts';
import { defaultCacheDir } from './cert-cache.ts';
import { measureFloors, startBareServer, type BareServer } from './floors.ts';
import { measureMatchers, renderMatchers } from './matchers.ts';
import { renderWorkers, runWorkers } from './workers.ts';

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

const MODES = ['proxy', 'static', 'certs', 'on-demand', 'matchers', 'workers'] as const;
type BenchMode = (typeof MODES)[number];

interface Options {
  readonly modes: readonly BenchMode[];
  readonly mode: Mode;
  readonly only: readonly string[];
  readonly seconds: number;
  readonly staticSeconds: number;
  readonly rounds: number;
  readonly certCounts: readonly number[];
  readonly names: number;
  readonly firstNames: number;
  readonly matcherRequests: number;
  readonly cache: string;
  readonly write: boolean;
}

function integerIn(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= min && n <= max)) throw new Error(`--${flag} must be a whole number from ${min} to ${max}, not ${text}`);
  return n;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      modes: { type: 'string', default: MODES.join(',') },
      mode: { type: 'string', default: 'one-core' },
      only: { type: 'string', default: CANDIDATES.map((c) => c.id).join(',') },
      seconds: { type: 'string', default: '10' },
      'static-seconds': { type: 'string', default: '5' },
      rounds: { type: 'string', default: '2' },
      certs: { type: 'string', default: '1000,10000' },
      names: { type: 'string', default: '1000' },
      'first-names': { type: 'string', default: '5' },
      'matcher-requests': { type: 'string', default: '20000' },
      cache: { type: 'string', default: defaultCacheDir() },
      'no-write': { type: 'boolean', default: false },
    },
  });
  if (values.mode !== 'one-core' && values.mode !== 'all-cores') throw new Error(`--mode must be one-core or all-cores, not ${values.mode}`);
  const modes = values.modes.split(',').map((m) => m.trim());
  for (const m of modes) if (!(MODES as readonly string[]).includes(m)) throw new Error(`--modes: unknown mode "${m}" (known: ${MODES.join(', ')})`);
  const only = values.only.split(',').map((c) => c.trim());
  for (const c of only) if (!CANDIDATES.some((k) => k.id === c)) throw new Error(`--only: unknown candidate "${c}" (known: ${CANDIDATES.map((k) => k.id).join(', ')})`);
  const seconds = Number(values.seconds);
  const staticSeconds = Number(values['static-seconds']);
  if (!(seconds >= 1 && seconds <= 60)) throw new Error('--seconds must be between 1 and 60');
  if (!(staticSeconds >= 1 && staticSeconds <= 60)) throw new Error('--static-seconds must be between 1 and 60');
  return {
    modes: modes as BenchMode[],
    mode: values.mode,
    only,
    seconds,
    staticSeconds,
    rounds: integerIn('rounds', values.rounds, 1, 5),
    certCounts: values.certs.split(',').map((c) => integerIn('certs', c.trim(), 10, 20_000)),
    names: integerIn('names', values.names, 1, 5_000),
    firstNames: integerIn('first-names', values['first-names'], 1, 20),
    matcherRequests: integerIn('matcher-requests', values['matcher-requests'], 1_000, 200_000),
    cache: values.cache,
    write: !values['no-write'],
  };
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
type Entry = { candidate: Candidate; instance?: Instance; result: Mutable<CandidateResult> & { wrk: CandidateResult['wrk'][number][]; wrk64: CandidateResult['wrk64'][number][]; h2: CandidateResult['h2'][number][]; handshake: CandidateResult['handshake'][number][] } };

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** The bare Node server of the floors and what each load measured on it. */
interface FloorRuns {
  readonly server: BareServer;
  /** VmRSS one second after one request proxied through it, as the candidates' idle figure: what a Node reverse proxy holds at rest. */
  idleRssKiB?: number | string;
  readonly handshake: Sample<HandshakeResult | string>[];
  readonly wrk: Sample<WrkResult>[];
  readonly wrk64: Sample<WrkResult>[];
}

/**
 * Both HTTPS/1.1 loads, unreported, before the first round: JIT, pools and caches warm. The 64 KiB
 * body takes a path of its own through Node's streams (V8 still optimised and deoptimised its
 * stream code for the first seconds of that load, docs/design.md "a JIT that settles late"), so a
 * warm-up of the 1 KiB load alone left the first 64 KiB round measuring a JIT-bound process
 * (p99 11–13 ms against 7–8 ms in the next rounds, hand-run); Caddy and nginx get the same.
 */
async function warmUp(target: LoadTarget): Promise<void> {
  await runWrk(target, WARM_UP_SECONDS);
  target.signal.throwIfAborted();
  await runWrk({ ...target, path: LARGE_BODY_PATH }, WARM_UP_SECONDS);
}

/**
 * Loads in rounds, one kind at a time across all candidates, starting each round with the next
 * candidate. With `floor`, each round's wrk, wrk 64 KiB and handshake loads also run against that
 * bare Node server (a bare reverse proxy to the same upstream), after the candidates: the floors
 * of request and handshake CPU, in the same rounds and noise.
 */
async function measureRounds(run: RunContext, options: Options, entries: readonly Entry[], floor?: FloorRuns): Promise<void> {
  const floorTarget = (f: FloorRuns): LoadTarget => ({ port: f.server.port, host: run.host, cpus: run.loadCpus, signal: run.signal });
  const onFloor = async <T>(label: string, load: (target: LoadTarget) => Promise<T>, into: (f: FloorRuns) => Sample<T>[]): Promise<void> => {
    if (floor === undefined) return;
    progress(`${label}: bare Node server`);
    const before = (await treeStats(floor.server.pid)).cpuSeconds;
    const result = await load(floorTarget(floor));
    into(floor).push({ result, cpuSeconds: (await treeStats(floor.server.pid)).cpuSeconds - before });
    run.signal.throwIfAborted();
  };
  const live = entries.filter((e): e is Entry & { instance: Instance } => e.instance !== undefined);
  for (const e of live) {
    await sleep(1000, run.signal);
    e.result.idleRssKiB = (await treeStats(e.instance.started.pid)).rssKiB;
    progress(`${e.result.label}: warm-up`);
    await warmUp(loadTarget(run, e.instance));
    run.signal.throwIfAborted();
  }
  if (floor !== undefined) {
    const failure = await probe(floor.server.port, run.host, run.certs.rootPem, run.signal);
    await sleep(1000, run.signal);
    // A process that is gone reads 0 here; the report prints that as not read (renderFloorIdle).
    floor.idleRssKiB = failure ?? (await treeStats(floor.server.pid)).rssKiB;
    progress('bare Node server: warm-up');
    await warmUp(floorTarget(floor));
    run.signal.throwIfAborted();
  }
  for (let round = 0; round < options.rounds; round++) {
    const order = live.map((_, i) => live[(i + round) % live.length]).filter((e) => e !== undefined);
    for (const e of order) {
      progress(`round ${round + 1}/${options.rounds}: ${e.result.label}: wrk`);
      e.result.wrk.push(await withCpu(e.instance, () => runWrk(loadTarget(run, e.instance), options.seconds)));
      run.signal.throwIfAborted();
    }
    await onFloor(`round ${round + 1}/${options.rounds}: wrk`, (t) => runWrk(t, options.seconds), (f) => f.wrk);
    for (const e of order) {
      progress(`round ${round + 1}/${options.rounds}: ${e.result.label}: wrk 64 KiB`);
      e.result.wrk64.push(await withCpu(e.instance, () => runWrk({ ...loadTarget(run, e.instance), path: LARGE_BODY_PATH }, options.seconds)));
      run.signal.throwIfAborted();
    }
    await onFloor(`round ${round + 1}/${options.rounds}: wrk 64 KiB`, (t) => runWrk({ ...t, path: LARGE_BODY_PATH }, options.seconds), (f) => f.wrk64);
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
    await onFloor(`round ${round + 1}/${options.rounds}: handshakes`, (t) => runHandshakes(t, HANDSHAKE_SECONDS, HANDSHAKE_CONCURRENCY, HANDSHAKE_GROUPS), (f) => f.handshake);
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

/** The heading and run line every generated section starts with. */
function sectionHead(title: string, mode: BenchMode, began: number, loadAtStart: string): string {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const load = loadavg().map((l) => l.toFixed(2)).join(' / ');
  return `## ${title}\n\nMode \`${mode}\` (\`npm run bench -- --modes ${mode}\` runs it alone), finished ${now}, ${Math.round((performance.now() - began) / 1000)} s; load average (1/5/15 min) ${loadAtStart} at its start, ${load} at its end. Shared 2-CPU machine: compare ratios, not absolute figures.\n\n`;
}

const loadNow = (): string => loadavg().map((l) => l.toFixed(2)).join(' / ');

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
  const sections: Section[] = [];
  const out = join(import.meta.dirname, '..', 'docs', 'benchmarks.md');
  const publish = async (section: Section): Promise<void> => {
    sections.push(section);
    process.stdout.write(`\n${section.text}\n`);
    // Written after every mode, so an interrupted run keeps the modes it finished.
    if (options.write) await writeFile(out, mergeSections(await readFile(out, 'utf8').catch(() => EMPTY_PAGE), [section]));
  };
  try {
    const facts = await machineFacts(selected, controller.signal);
    const versions = new Map(facts);
    const proxy = options.modes.includes('proxy');
    progress(`generating ${proxy ? EXTRA_SITES + 1 : 1} certificates`);
    const certs = await createBenchCertificates(dir, HOST, proxy ? EXTRA_SITES : 0);
    const commands: string[] = [];
    let upstreamPort = 0;
    const configs: [string, string][] = [];
    if (proxy) {
      upstreamPort = await freePort();
      const upstream = await writeUpstreamConfig(join(dir, 'upstream'), upstreamPort);
      const upstreamLog = join(dir, 'upstream', 'output.log');
      processes.start('upstream', upstream.command, upstream.args, { cpus: LOAD_CPUS, logFile: upstreamLog });
      if (!(await waitForPort(upstreamPort, 10_000, controller.signal))) throw new Error(`starting the nginx upstream: ${await logTail(upstreamLog)}`);
      commands.push('# upstream', `taskset -c ${LOAD_CPUS} ${[upstream.command, ...upstream.args].join(' ')}`);
      // The body is shown by its length, not its 1,024 bytes.
      configs.push(['upstream (nginx)', (await readFile(upstream.configFile, 'utf8')).replace('x'.repeat(BODY_BYTES), `<${BODY_BYTES} × x>`)]);
    }
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
      configs,
    };
    /**
     * Runs one mode and publishes its section. A mode that fails publishes why in its place and
     * the run goes on with the next, so one broken product or tool does not cost the other figures.
     */
    const mode = async (id: BenchMode, title: string, body: () => Promise<string>): Promise<void> => {
      if (!options.modes.includes(id)) return;
      const t0 = performance.now();
      const load0 = loadNow();
      let text: string;
      try {
        text = await body();
      } catch (err) {
        if (controller.signal.aborted) throw err;
        progress(`${id}: ${describeError(err)}`);
        text = `This mode failed: ${describeError(err)}`;
        await processes.stopAll();
      }
      await publish({ id, text: sectionHead(title, id, t0, load0) + text });
    };
    const onDemandCandidates = selected.filter((c) => c.prepareOnDemand !== undefined);
    await mode('proxy', 'Reverse proxy', async () => {
      const t0 = performance.now();
      const { results, floor, proxyFloor } = await runProxy(run, options, selected, versions);
      return renderProxySection({
        handshakeFloor: floor,
        proxyFloor,
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        mode: options.mode,
        rounds: options.rounds,
        machine: [],
        results,
        commands: [],
        configs: [],
        notes: methodNotes(options),
        durationSeconds: (performance.now() - t0) / 1000,
      });
    });
    await mode('static', 'Static files (issue 11)', async () => renderStatic(await runStatic(run, selected, { seconds: options.staticSeconds, rounds: options.rounds }, progress), options.staticSeconds));
    await mode('certs', 'Memory per certificate (issue 12)', async () => {
      const results = certsResults(onDemandCandidates);
      progress('certs: floors (bare Node server, one SecureContext)');
      const floors = await measureFloors(certs.main.certFile, certs.main.keyFile, CANDIDATE_CPUS, controller.signal);
      const prepared = await runCertMemory(run, onDemandCandidates, results, options.certCounts, options.cache, progress);
      return renderCertMemory(results, options.certCounts, floors, prepared);
    });
    await mode('on-demand', 'On-demand certificates (issue 12)', async () => {
      const results = certsResults(onDemandCandidates);
      await runOnDemand(run, onDemandCandidates, results, { firstNames: options.firstNames, names: options.names }, progress);
      return renderOnDemand(results, options.names);
    });
    await mode('matchers', 'Request matchers (issue 9)', async () => {
      progress('matchers');
      return renderMatchers(await measureMatchers(options.matcherRequests, 7));
    });
    await mode('workers', 'Workers: scaling to a second core (issue 13)', async () => {
      const settings = { seconds: options.seconds, rounds: options.rounds };
      return renderWorkers(await runWorkers(run, settings, progress), settings);
    });
    await processes.stopAll();
    facts.push(['load average at end (1/5/15 min)', loadNow()]);
    // The machine and the commands sections describe one whole run: a run of some modes prints
    // them but leaves the file's (each mode's section carries its own date and load averages).
    const whole = MODES.every((m) => options.modes.includes(m));
    const finish = whole ? publish : async (section: Section): Promise<void> => void process.stdout.write(`\n${section.text}\n`);
    await finish({
      id: 'machine',
      text: `## Machine of the last run\n\nModes ${options.modes.map((m) => `\`${m}\``).join(', ')}, finished ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}, ${Math.round((performance.now() - began) / 1000)} s in all (each mode's section has its own date and load averages).\n\n${facts.map(([k, v]) => `- ${k}: ${v}`).join('\n')}`,
    });
    await finish({ id: 'commands', text: renderCommands(commands.map((c) => c.replaceAll(dir, '$BENCH_DIR')), configs.map(([label, text]) => [label, text.replaceAll(dir, '$BENCH_DIR')])) });
    if (options.write) progress(`wrote ${out}`);
    return 0;
  } finally {
    await processes.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The proxy mode: every candidate started on the measured site, the loads in rounds, then the 1,000-certificate instances. */
async function runProxy(
  run: RunContext,
  options: Options,
  selected: readonly Candidate[],
  versions: Map<string, string>,
): Promise<{ results: CandidateResult[]; floor: HandshakeFloor | undefined; proxyFloor: ProxyFloor | undefined }> {
  const entries: Entry[] = [];
  for (const candidate of selected) {
    progress(`${candidate.label}: starting`);
    const result: Entry['result'] = { id: candidate.id, label: candidate.label, version: versions.get(candidate.label) ?? 'unknown', wrk: [], wrk64: [], h2: [], handshake: [] };
    const instance = await startCandidate(run, candidate, [run.certs.main], 'load', START_TIMEOUT_MS).catch((err: unknown) => {
      if (run.signal.aborted) throw err;
      return describeError(err);
    });
    if (typeof instance === 'string') {
      progress(`${candidate.label}: ${instance}`);
      result.failure = instance;
      entries.push({ candidate, result });
    } else entries.push({ candidate, instance, result });
  }
  // The floor is pinned like the candidates, so only in the one-core layout.
  const bare =
    options.mode === 'one-core' ? await startBareServer(run.certs.main.certFile, run.certs.main.keyFile, CANDIDATE_CPUS, run.signal, `http://127.0.0.1:${run.upstreamPort}`) : undefined;
  const floor: FloorRuns | undefined = bare !== undefined && typeof bare !== 'string' ? { server: bare, handshake: [], wrk: [], wrk64: [] } : undefined;
  try {
    await measureRounds(run, options, entries, floor);
  } finally {
    for (const e of entries) if (e.instance) await run.processes.stop(e.instance.started);
    floor?.server.stop();
  }
  for (const e of entries) {
    if (e.result.failure) continue;
    progress(`${e.result.label}: ${EXTRA_SITES} certificates`);
    e.result.manyCerts = await measureManyCerts(run, e.candidate, MANY_CERTS_START_TIMEOUT_MS).catch((err: unknown) => {
      if (run.signal.aborted) throw err;
      return describeError(err);
    });
  }
  return {
    results: entries.map((e) => e.result),
    floor: typeof bare === 'string' ? bare : floor?.handshake,
    proxyFloor: typeof bare === 'string' ? bare : floor === undefined ? undefined : { wrk: floor.wrk, wrk64: floor.wrk64, idleRssKiB: floor.idleRssKiB },
  };
}

function methodNotes(options: Options): string[] {
  const pinning =
    options.mode === 'one-core'
      ? 'Each proxy pinned to CPU 1 (`taskset -c 1`) with one worker: Caddy with `GOMAXPROCS=1`, nginx with `worker_processes 1`, my-server as it starts by default. The load generators and the upstream are pinned to CPU 0.'
      : 'Proxies unpinned with their default worker counts (nginx `worker_processes auto`, Caddy default GOMAXPROCS); the load generators and the upstream stay pinned to CPU 0, so they compete with the proxy for it.';
  return [
    pinning,
    `Upstream: one nginx worker on 127.0.0.1 answering 200 with a ${BODY_BYTES}-byte body (and a ${LARGE_BODY_BYTES / 1024} KiB file at \`${LARGE_BODY_PATH}\` for the 64 KiB rows: the same wrk load after the 1 KiB one in each round); every proxy keeps upstream connections alive (nginx: \`keepalive 64\`). nginx's \`keepalive_requests\` is raised so it keeps client connections open for the whole run, as the others do.`,
    `Site \`${HOST}\` (wrk and h2load send SNI and Host from the URL, so the name must resolve to 127.0.0.1), user-managed ECDSA P-256 certificate (leaf + intermediate) from a throwaway CA, TLS 1.3, X25519 key exchange.`,
    `All candidates run at the same time (idle ones use no CPU); each load runs once per round for every candidate in turn, the order rotating each round, ${options.rounds} round(s). Rates and latencies are from each candidate's best valid run (the highest rate, with that run's own p50/p99), since interference only slows a run down; per-CPU-second figures add up all valid runs.`,
    `HTTPS/1.1: \`wrk -t1 -c64 -d${options.seconds}s --latency\` after ${WARM_UP_SECONDS} s warm-up runs of each (1 KiB, then 64 KiB; the bare Node floor too, where it runs); p50/p99 from wrk's latency distribution. HTTP/2: \`h2load -t1 -c8 -m8 -D${options.seconds} --warm-up-time=1\` (the same 64 requests in flight). Runs with any non-2xx answer or failed request are reported as n/a.`,
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
