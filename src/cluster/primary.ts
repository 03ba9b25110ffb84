/**
 * The primary of `workers N`: forks N workers (each a whole runtime, cluster/worker.ts), and only
 * supervises; it serves nothing itself unless the kernel refuses SO_REUSEPORT, in which case
 * node:cluster makes it accept and hand out connections. It restarts a worker that dies (with
 * backoff when it keeps dying), passes the leader role on when the leader dies, forwards each
 * worker's certificate pushes to the others, fans reloads out and stops everyone on SIGTERM/SIGINT.
 */
import cluster, { type Worker } from 'node:cluster';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../config/types.ts';
import type { ConfigWatcher } from '../config/watch.ts';
import type { Logger } from '../log.ts';
import { backoffDelay } from '../util/backoff.ts';
import { isOurs, sendMessage, WORKER_ID_ENV, WORKER_LEADER_ENV, type ToPrimary, type ToWorker } from './protocol.ts';

export interface PrimaryOptions {
  readonly count: number;
  readonly log: Logger;
  /** grace_period + shutdown_delay: how long the workers may take to stop before they are killed. */
  readonly stopMs: number;
  /**
   * `run --watch`: the Proxyfile and the files it imports (Config.files). The primary watches them
   * and reloads every worker as SIGHUP does; the workers do not watch the config themselves.
   */
  readonly watch?: { readonly file: string; readonly files: readonly string[] };
}

/** A worker that served this long before dying starts its restart backoff over. */
const HEALTHY_MS = 30_000;
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A worker's answer to a reload; the build of a large config with many certificates stays well below. */
const RELOAD_ANSWER_MS = 120_000;
/** A scrape waits this long for each worker's metrics; a worker that does not answer is left out. */
const METRICS_ANSWER_MS = 5_000;

/** The part of prom-client's getMetricsAsJSON() output (sent over IPC) the aggregation looks at. */
interface MetricJson {
  readonly name: string;
  /** 'counter', 'gauge', 'histogram', 'summary' at run time. */
  readonly type: string;
  readonly aggregator?: string;
}

interface Slot {
  readonly id: number;
  worker: Worker | undefined;
  /** Its message handler is installed: messages sent now are not lost. */
  hello: boolean;
  serving: boolean;
  startedAt: number;
  /** Deaths in a row without HEALTHY_MS of service between them. */
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

export class Primary {
  readonly #o: PrimaryOptions;
  readonly #log: Logger;
  readonly #slots: Slot[] = [];
  #leader: number | undefined;
  #stopping = false;
  #everServed = false;
  #seq = 0;
  readonly #answers = new Map<number, (error: string | undefined) => void>();
  readonly #metricsAnswers = new Map<number, (metrics: MetricJson[] | undefined) => void>();
  /** Reloads run one at a time. */
  #reloads: Promise<unknown> = Promise.resolve();
  /** The config text of the last /load every worker applied: a replacement worker applies it too. */
  #loaded: string | undefined;
  #done!: (code: number) => void;
  readonly done: Promise<number>;
  /** `run --watch`: the watcher of the config files, replaced when the set of imported files changes. */
  #watcher: ConfigWatcher | undefined;
  #watchedFiles: readonly string[] = [];

  constructor(options: PrimaryOptions) {
    this.#o = options;
    this.#log = options.log.child({ logger: 'cluster' });
    this.done = new Promise((resolve) => {
      // Nothing may keep the primary alive once its workers are gone: the watcher holds handles.
      this.#done = (code) => {
        this.#stopWatching();
        resolve(code);
      };
    });
  }

  /** Forks every worker; resolves with the exit code once they have all stopped. */
  run(): Promise<number> {
    for (let id = 1; id <= this.#o.count; id++) {
      const slot: Slot = { id, worker: undefined, hello: false, serving: false, startedAt: 0, failures: 0, restart: undefined };
      this.#slots.push(slot);
    }
    this.#leader = 1;
    for (const slot of this.#slots) this.#fork(slot, slot.id === 1);
    process.on('SIGTERM', () => this.stop('SIGTERM'));
    process.on('SIGINT', () => this.stop('SIGINT'));
    process.on('SIGHUP', () => void this.reloadAll(undefined, undefined).then((err) => err && this.#log.error(`reload (SIGHUP) failed: ${err}`)));
    this.#log.info({ workers: this.#o.count, pid: process.pid }, 'starting workers');
    if (this.#o.watch) void this.#watch(this.#o.watch.files);
    return this.done;
  }

  /** SIGTERM/SIGINT: every worker drains within the grace period; a second signal kills them. */
  stop(signal: string): void {
    if (this.#stopping) {
      this.#log.warn({ signal }, 'second stop signal: killing the workers');
      for (const s of this.#slots) s.worker?.process.kill('SIGKILL');
      this.#done(1);
      return;
    }
    this.#stopping = true;
    this.#stopWatching();
    this.#log.info({ signal }, 'stopping workers');
    for (const s of this.#slots) {
      clearTimeout(s.restart);
      if (s.worker) this.#send(s, { t: 'ms:stop' });
    }
    setTimeout(() => {
      this.#log.error('workers still running 10 s after the grace period: killing them');
      for (const s of this.#slots) s.worker?.process.kill('SIGKILL');
    }, this.#o.stopMs + 10_000).unref();
    this.#maybeDone();
  }

  /**
   * Every worker applies a config (`text`, else the file), all or none: the leader first, and the
   * others only if it succeeded (a config that does not build stops there, nothing changed); if one
   * of them fails, those that applied it go back to their previous config (ms:settle). `from`: a
   * worker that applied it already (the leader's admin API), which goes back by itself when this
   * reports a failure. Resolves with what failed, undefined when all succeeded.
   */
  reloadAll(from: number | undefined, text: string | undefined): Promise<string | undefined> {
    const run = async (): Promise<string | undefined> => {
      const live = this.#slots.filter((s) => s.worker && s.serving && s.id !== from);
      const leader = live.find((s) => s.id === this.#leader);
      const applied: [Slot, number][] = [];
      const apply = async (s: Slot): Promise<string | undefined> => {
        const [seq, err] = await this.#reloadOne(s, text);
        if (err === undefined) applied.push([s, seq]);
        return err === undefined ? undefined : `worker ${s.id}: ${err}`;
      };
      let errors: string[] = [];
      if (leader && from === undefined) {
        const err = await apply(leader);
        if (err !== undefined) errors = [err];
      }
      if (errors.length === 0) {
        errors = (await Promise.all(live.filter((s) => s !== leader || from !== undefined).map(apply))).filter((e) => e !== undefined);
      }
      for (const [s, seq] of applied) this.#send(s, { t: 'ms:settle', seq, revert: errors.length > 0 });
      if (errors.length > 0) {
        this.#log.error({ reverted: applied.map(([s]) => s.id) }, `reload failed: ${errors.join('; ')}`);
        return errors.join('; ');
      }
      this.#loaded = text;
      return undefined;
    };
    const p = this.#reloads.then(run);
    this.#reloads = p.catch(() => undefined);
    return p;
  }

  /**
   * Every serving worker's metrics in one exposition: counters and histograms summed (prom-client's
   * AggregatorRegistry); our gauges (an upstream's health, a certificate's expiry) take the lowest
   * value, so a worker still serving an old certificate or seeing an upstream down shows.
   */
  async #metrics(): Promise<string> {
    const parts = await Promise.all(
      this.#slots.filter((s) => s.serving).map((s) => {
        const seq = ++this.#seq;
        return new Promise<MetricJson[] | undefined>((resolve) => {
          const timer = setTimeout(() => {
            this.#metricsAnswers.delete(seq);
            resolve(undefined);
          }, METRICS_ANSWER_MS);
          this.#metricsAnswers.set(seq, (metrics) => {
            clearTimeout(timer);
            resolve(metrics);
          });
          this.#send(s, { t: 'ms:metrics-json', seq });
        });
      }),
    );
    const all = parts.filter((p) => p !== undefined).map((p) => p.map((m) => (m.type === 'gauge' && m.name.startsWith('my_server_') && (m.aggregator ?? 'sum') === 'sum' ? { ...m, aggregator: 'min' } : m)));
    // Loaded at the first scrape: prom-client is ~20 MB the primary need not carry otherwise.
    const { AggregatorRegistry } = await import('prom-client');
    return AggregatorRegistry.aggregate(all).metrics();
  }

  /**
   * `run --watch` with workers: one watcher, here, so a save reloads every worker through
   * reloadAll (all or none), never each worker on its own. Replaced, once its successor is ready,
   * when a reload changes the set of imported files.
   */
  async #watch(files: readonly string[]): Promise<void> {
    const file = this.#o.watch?.file;
    if (file === undefined || this.#stopping) return;
    const { watchConfig } = await import('../config/watch.ts');
    const next = watchConfig(file, files, () => void this.#fileChanged(), { onError: (err) => this.#log.warn({ err }, 'watching the config files') });
    await next.ready;
    if (this.#stopping) {
      await next.close();
      return;
    }
    const previous = this.#watcher;
    this.#watcher = next;
    this.#watchedFiles = [...files].sort();
    // Tests and scripts wait for this line, as for a single process's (app/file-watch.ts).
    this.#log.info({ files: [...new Set([file, ...files])] }, 'watching config for changes');
    await previous?.close();
  }

  async #fileChanged(): Promise<void> {
    const file = this.#o.watch?.file;
    if (file === undefined || this.#stopping) return;
    this.#log.info({ file, trigger: 'watch' }, 'reloading config');
    const err = await this.reloadAll(undefined, undefined);
    if (err !== undefined) this.#log.error(`reload (watch) rejected, every worker keeps the running config: ${err}`);
    // The new config may import other files. One that does not load leaves the watched set as it is.
    try {
      const { loadConfig } = await import('../config/index.ts');
      const files = [...(await loadConfig(file)).files].sort();
      if (files.join('\n') !== this.#watchedFiles.join('\n')) await this.#watch(files);
    } catch {
      // The workers said why it does not load (logged above); the next save is still seen.
    }
  }

  #stopWatching(): void {
    void this.#watcher?.close();
    this.#watcher = undefined;
  }

  /** Resolves with the reload's seq and, if it failed, why. */
  #reloadOne(slot: Slot, text: string | undefined): Promise<[number, string | undefined]> {
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#answers.delete(seq);
        resolve([seq, 'no answer to the reload']);
      }, RELOAD_ANSWER_MS);
      this.#answers.set(seq, (err) => {
        clearTimeout(timer);
        resolve([seq, err]);
      });
      this.#send(slot, { t: 'ms:reload', seq, ...(text !== undefined ? { text } : {}) });
    });
  }

  #fork(slot: Slot, leader: boolean): void {
    const worker = cluster.fork({ [WORKER_ID_ENV]: String(slot.id), [WORKER_LEADER_ENV]: leader ? '1' : '0', ...compileCacheEnv() });
    slot.worker = worker;
    slot.hello = false;
    slot.serving = false;
    slot.startedAt = Date.now();
    worker.on('message', (m: unknown) => {
      if (isOurs<ToPrimary>(m)) this.#onMessage(slot, m);
    });
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal));
    // A worker's 'error' (its channel, a failed kill) must never be the primary's uncaught
    // exception: the primary's death stops every worker.
    worker.on('error', (err: Error) => this.#log.warn({ worker: slot.id, err: err.message }, 'worker process error'));
  }

  #onMessage(slot: Slot, m: ToPrimary): void {
    switch (m.t) {
      case 'ms:hello':
        slot.hello = true;
        // Forked before a stop whose message could not reach it yet (no listener before hello).
        if (this.#stopping) this.#send(slot, { t: 'ms:stop' });
        // The leader died while no other worker could take over: the first to come up does.
        if (this.#leader === undefined && !this.#stopping) this.#promote(slot);
        return;
      case 'ms:serving':
        slot.serving = true;
        this.#everServed = true;
        this.#log.info({ worker: slot.id, pid: slot.worker?.process.pid, leader: this.#leader === slot.id }, 'worker serving');
        if (this.#loaded !== undefined) {
          // A replacement started from the file; the others serve what /load gave them. In the
          // reload queue, so a reload running now cannot finish before it and leave it behind.
          this.#reloads = this.#reloads.then(async () => {
            if (this.#loaded === undefined || !slot.serving) return;
            const [seq, err] = await this.#reloadOne(slot, this.#loaded);
            this.#send(slot, { t: 'ms:settle', seq, revert: false });
            if (err !== undefined) this.#log.error({ worker: slot.id }, `applying the loaded config to a restarted worker failed: ${err}`);
          }).catch(() => undefined);
        }
        return;
      case 'ms:certs':
        for (const s of this.#slots) if (s !== slot && s.hello) this.#send(s, { t: 'ms:certs', names: m.names });
        return;
      case 'ms:reloaded':
        this.#answers.get(m.seq)?.(m.error);
        this.#answers.delete(m.seq);
        return;
      case 'ms:fan-out':
        void this.reloadAll(slot.id, m.text).then((error) => this.#send(slot, { t: 'ms:done', seq: m.seq, ...(error !== undefined ? { error } : {}) }));
        return;
      case 'ms:metrics':
        void this.#metrics().then(
          (body) => this.#send(slot, { t: 'ms:done', seq: m.seq, body }),
          (err: unknown) => this.#send(slot, { t: 'ms:done', seq: m.seq, error: String(err) }),
        );
        return;
      case 'ms:metrics-json':
        if (m.error !== undefined) this.#log.warn({ worker: slot.id }, `a worker's metrics: ${m.error}`);
        this.#metricsAnswers.get(m.seq)?.(m.error === undefined ? (m.metrics as MetricJson[]) : undefined);
        this.#metricsAnswers.delete(m.seq);
        return;
      case 'ms:reload-all':
        void this.reloadAll(undefined, undefined).then((err) => err && this.#log.error(`reload failed: ${err}`));
        return;
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.hello = false;
    slot.serving = false;
    const wasLeader = this.#leader === slot.id;
    if (wasLeader) this.#leader = undefined;
    if (this.#stopping) {
      this.#maybeDone();
      return;
    }
    if (!this.#everServed) {
      // As a single process that cannot start: nothing is left running, the exit says it failed.
      this.#log.error({ worker: slot.id, code, signal }, 'a worker failed to start: stopping');
      this.#stopping = true;
      for (const s of this.#slots) s.worker?.process.kill('SIGTERM');
      this.#exitCode = 1;
      this.#maybeDone();
      return;
    }
    if (Date.now() - slot.startedAt > HEALTHY_MS) slot.failures = 0;
    const delayMs = restartDelay(slot.failures);
    slot.failures++;
    this.#log.error({ worker: slot.id, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'worker exited: restarting it');
    if (wasLeader) {
      const next = this.#slots.find((s) => s.serving && s.worker) ?? this.#slots.find((s) => s.hello && s.worker);
      if (next) this.#promote(next);
    }
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      if (!this.#stopping) this.#fork(slot, false);
    }, delayMs);
  }

  #exitCode = 0;

  #promote(slot: Slot): void {
    this.#leader = slot.id;
    this.#log.info({ worker: slot.id }, 'worker leads: renewals and the admin API');
    this.#send(slot, { t: 'ms:lead' });
  }

  #maybeDone(): void {
    if (this.#slots.every((s) => s.worker === undefined)) {
      this.#log.info({ code: this.#exitCode }, 'all workers stopped');
      this.#done(this.#exitCode);
    }
  }

  #send(slot: Slot, message: ToWorker): void {
    const w = slot.worker;
    if (w) sendMessage(w.process, message, (err) => this.#log.debug({ worker: slot.id, err: err.message, message: message.t }, 'a message to a worker was not delivered (it is exiting)'));
  }
}

/**
 * A replacement worker must serve soon after its predecessor died: with V8's compile cache (Node's
 * own default directory, entries checked against each file's content) it loads its modules in about
 * half the time, measured 1.0–1.2 s → 0.5 s for app.ts on a busy 2-core host. Left alone when the
 * user configured or disabled it.
 */
function compileCacheEnv(): NodeJS.ProcessEnv {
  if (process.env['NODE_COMPILE_CACHE'] !== undefined || process.env['NODE_DISABLE_COMPILE_CACHE'] !== undefined) return {};
  return { NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache') };
}

/**
 * How long the primary waits before forking a replacement for a worker that died `failures` times
 * in a row without serving HEALTHY_MS in between: at once the first time (a one-off crash), then
 * 0.5 s doubling to 30 s, jittered, so a worker that cannot start does not keep a core busy.
 */
export function restartDelay(failures: number, random: () => number = Math.random): number {
  return failures === 0 ? 0 : backoffDelay(failures - 1, { baseMs: RESTART_BASE_MS, maxMs: RESTART_MAX_MS, random });
}

/** The log files of `config` that roll (Caddy's default unless `roll_disabled`). */
function rolledLogFiles(config: Config): Set<string> {
  const outputs = [config.globals.log, ...(config.globals.loggers ?? []), ...config.sites.flatMap((s) => (s.log && !s.log.shared ? [s.log] : []))].map((l) => l.output);
  return new Set(outputs.flatMap((o) => (o.kind === 'file' && o.roll?.enabled !== false ? [resolve(o.path)] : [])));
}

/**
 * Rolled log files every worker would write: those named the same in the config as worker 1 and
 * as worker 2 read it (`{$MY_SERVER_WORKER_ID}` in a name makes it differ). Each worker rolls such
 * a file on its own count of bytes, so they rename it under each other (docs/clustering.md).
 */
export function sharedLogFiles(asWorker1: Config, asWorker2: Config): string[] {
  const other = rolledLogFiles(asWorker2);
  return [...rolledLogFiles(asWorker1)].filter((f) => other.has(f)).sort();
}

/** `workers N|auto` as a count: auto is what the host lets this process run in parallel. */
export function workerCount(setting: number | 'auto' | undefined, parallelism: number): number {
  if (setting === undefined) return 1;
  return setting === 'auto' ? Math.max(1, parallelism) : setting;
}
