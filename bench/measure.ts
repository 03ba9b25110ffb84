/**
 * Starting a candidate until it provably serves, and the measurements taken on a running one.
 * Every load run is paired with the CPU seconds the candidate's process tree used during it.
 */
import { request } from 'node:https';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sleep } from '../src/util/backoff.ts';
import type { BenchCertificates, SiteCertificate } from './certs.ts';
import { BODY_BYTES, type Candidate, type Mode, type OnDemandContext } from './candidates.ts';
import { handshakeEach, type LoadTarget } from './load.ts';
import { treeStats, waitForPort, type Processes, type Started } from './processes.ts';
import type { ManyCertsResult, Sample } from './report.ts';

/** What every step of one benchmark run shares. */
export interface RunContext {
  readonly mode: Mode;
  readonly processes: Processes;
  readonly signal: AbortSignal;
  /** Scratch directory of the run; each instance gets a subdirectory. */
  readonly dir: string;
  readonly certs: BenchCertificates;
  /** Name of the measured site; resolves to 127.0.0.1. */
  readonly host: string;
  readonly upstreamPort: number;
  /** CPU list of the load generators (and the upstream). */
  readonly loadCpus: string;
  /** CPU list of the candidates in one-core mode. */
  readonly candidateCpus: string;
  /** The exact command lines, appended as they run, for the report. */
  readonly commands: string[];
  /** Config file texts of the one-site instances, by candidate label. */
  readonly configs: [string, string][];
}

export interface Instance {
  readonly candidate: Candidate;
  readonly started: Started;
  readonly port: number;
  readonly startupSeconds: number;
  readonly logFile?: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** One GET through the candidate, verified against the bench root: undefined when it answered 200 with the upstream's body. */
export function probe(port: number, servername: string, ca: string, signal: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, servername, ca, path: '/', headers: { host: servername }, agent: false, timeout: 5000, signal }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve(res.statusCode === 200 && bytes === BODY_BYTES ? undefined : `probe got status ${res.statusCode}, ${bytes} bytes`));
      res.on('error', (err) => resolve(`probe: ${err.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve(`probe: ${err.message}`));
    req.end();
  });
}

/** The first lines of a server's output (where a usage or config error is), and the last when there are many. */
export async function logTail(file: string): Promise<string> {
  const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const picked = lines.length <= 4 ? lines : [...lines.slice(0, 2), '…', ...lines.slice(-2)];
  return picked.join(' / ').slice(0, 400);
}

/** Starts `candidate` serving `sites` and waits until a request through it succeeds; a string says why it did not. */
export async function startCandidate(
  run: RunContext,
  candidate: Candidate,
  sites: readonly SiteCertificate[],
  tag: string,
  timeoutMs: number,
  files?: string,
): Promise<Instance | string> {
  const dir = join(run.dir, `${candidate.id}-${tag}`);
  await mkdir(dir, { recursive: true });
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const launch = await candidate.prepare({ dir, httpPort, httpsPort, upstreamPort: run.upstreamPort, sites, mode: run.mode, ...(files === undefined ? {} : { files }) });
  const cpus = run.mode === 'one-core' ? run.candidateCpus : undefined;
  const envNote = launch.env?.GOMAXPROCS ? `GOMAXPROCS=${launch.env.GOMAXPROCS} ` : '';
  run.commands.push(`# ${candidate.label}, ${sites.length} site(s)${files === undefined ? '' : ', file server'}`, `${envNote}${cpus ? `taskset -c ${cpus} ` : ''}${[launch.command, ...launch.args].join(' ')}`);
  if (sites.length === 1) run.configs.push([`${candidate.label}${files === undefined ? '' : ' (file server)'}`, await readFile(launch.configFile, 'utf8')]);
  const logFile = join(dir, 'output.log');
  const t0 = performance.now();
  const started = run.processes.start(`${candidate.id}-${tag}`, launch.command, launch.args, { cpus, env: launch.env, logFile });
  const exited = started.exited.then((code) => `exited with ${String(code)}`);
  // Stops the readiness polling as soon as the process exits or the run is interrupted.
  const giveUp = new AbortController();
  const signal = AbortSignal.any([run.signal, giveUp.signal]);
  const ready = (async (): Promise<string | undefined> => {
    const deadline = Date.now() + timeoutMs;
    if (!(await waitForPort(httpsPort, timeoutMs, signal))) return `nothing listening on the HTTPS port after ${timeoutMs} ms`;
    let failure = await probe(httpsPort, run.host, run.certs.rootPem, signal);
    while (failure !== undefined && Date.now() < deadline) {
      await sleep(200, signal);
      failure = await probe(httpsPort, run.host, run.certs.rootPem, signal);
    }
    return failure;
  })().catch((err: unknown) => `waiting for readiness: ${(err as Error).message}`);
  const failure = await Promise.race([ready, exited]);
  giveUp.abort();
  if (failure !== undefined || run.signal.aborted) {
    await run.processes.stop(started);
    run.signal.throwIfAborted();
    const tail = await logTail(logFile);
    const reason = failure ?? 'interrupted';
    return tail ? `${reason}; output: ${tail}` : reason;
  }
  return { candidate, started, port: httpsPort, startupSeconds: (performance.now() - t0) / 1000, logFile };
}

/**
 * Starts `candidate` with one on-demand site (`prepareOnDemand`) and waits until its HTTPS port
 * accepts connections; the caller's first handshake is the real readiness check. A string says
 * why it did not start.
 */
export async function startOnDemand(
  run: RunContext,
  candidate: Candidate,
  context: Omit<OnDemandContext, 'dir' | 'httpPort' | 'httpsPort' | 'mode'>,
  ports: { readonly http: number; readonly https: number },
  tag: string,
  timeoutMs: number,
): Promise<Instance | string> {
  if (candidate.prepareOnDemand === undefined) return `${candidate.label} has no on-demand certificates`;
  const dir = join(run.dir, `${candidate.id}-${tag}`);
  await mkdir(dir, { recursive: true });
  const launch = await candidate.prepareOnDemand({ ...context, dir, httpPort: ports.http, httpsPort: ports.https, mode: run.mode });
  const cpus = run.mode === 'one-core' ? run.candidateCpus : undefined;
  const envNote = launch.env?.GOMAXPROCS ? `GOMAXPROCS=${launch.env.GOMAXPROCS} ` : '';
  run.commands.push(`# ${candidate.label}, on-demand (${tag})`, `${envNote}${cpus ? `taskset -c ${cpus} ` : ''}${[launch.command, ...launch.args].join(' ')}`);
  if (!run.configs.some(([label]) => label === `${candidate.label} (on demand)`)) run.configs.push([`${candidate.label} (on demand)`, await readFile(launch.configFile, 'utf8')]);
  const logFile = join(dir, 'output.log');
  const t0 = performance.now();
  const started = run.processes.start(`${candidate.id}-${tag}`, launch.command, launch.args, { cpus, env: launch.env, logFile });
  const exited = started.exited.then((code) => `exited with ${String(code)}`);
  const giveUp = new AbortController();
  const listening = waitForPort(ports.https, timeoutMs, AbortSignal.any([run.signal, giveUp.signal])).then((ok) => (ok ? undefined : `nothing listening on the HTTPS port after ${timeoutMs} ms`));
  const failure = await Promise.race([listening, exited]);
  giveUp.abort();
  if (failure !== undefined || run.signal.aborted) {
    await run.processes.stop(started);
    run.signal.throwIfAborted();
    const tail = await logTail(logFile);
    return tail ? `${failure ?? 'interrupted'}; output: ${tail}` : (failure ?? 'interrupted');
  }
  return { candidate, started, port: ports.https, startupSeconds: (performance.now() - t0) / 1000, logFile };
}

async function cpuOf(instance: Instance): Promise<number> {
  return (await treeStats(instance.started.pid)).cpuSeconds;
}

/** Runs `load` and returns its result with the CPU seconds the candidate used meanwhile. */
export async function cpuSecondsOf(instance: Instance): Promise<number> {
  return cpuOf(instance);
}

export async function withCpu<T>(instance: Instance, load: () => Promise<T>): Promise<Sample<T>> {
  const before = await cpuOf(instance);
  const result = await load();
  return { result, cpuSeconds: (await cpuOf(instance)) - before };
}

export function loadTarget(run: RunContext, instance: Instance): LoadTarget {
  return { port: instance.port, host: run.host, cpus: run.loadCpus, signal: run.signal };
}

/**
 * A fresh instance with the measured site plus every extra site, a handshake to each extra name
 * (which also makes a server that loads certificates lazily load them), then its RSS.
 */
export async function measureManyCerts(run: RunContext, candidate: Candidate, timeoutMs: number): Promise<ManyCertsResult | string> {
  const sites = [run.certs.main, ...run.certs.extra];
  const instance = await startCandidate(run, candidate, sites, 'certs', timeoutMs);
  if (typeof instance === 'string') return instance;
  try {
    const failedNames = await handshakeEach(
      instance.port,
      run.certs.extra.map((s) => s.name),
      8,
      run.signal,
    );
    await sleep(1000, run.signal); // let the last connections' buffers be freed
    const { rssKiB } = await treeStats(instance.started.pid);
    return { sites: sites.length, startupSeconds: instance.startupSeconds, rssKiB, failedNames };
  } finally {
    await run.processes.stop(instance.started);
  }
}
