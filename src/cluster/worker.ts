/**
 * A worker of `workers N`: a whole my-server runtime (App) beside its siblings, sharing their
 * storage and ports. This module is its end of the IPC channel: which role it has (leader or
 * follower), certificates it stored (told to the primary, which tells the others), reloads.
 */
import cluster from 'node:cluster';
import type { App } from '../app.ts';
import type { Config } from '../config/types.ts';
import { subscribe, unsubscribe, type Events } from '../diagnostics.ts';
import type { Logger } from '../log.ts';
import { shareListeners } from '../util/listen.ts';
import { DISTRIBUTION_ENV, isOurs, sendMessage, WORKER_ID_ENV, WORKER_LEADER_ENV, type ToPrimary, type ToWorker } from './protocol.ts';

/** This process's slot when the primary of `workers N` forked it; undefined in a process of its own. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const id = Number(process.env[WORKER_ID_ENV]);
  return Number.isInteger(id) && id > 0 ? id : undefined;
}

export class WorkerLink {
  readonly id: number;
  #leader: boolean;
  readonly #log: Logger;
  readonly #configFile: string;
  #app: App | undefined;
  #stop: ((trigger: string) => void) | undefined;
  /** The primary asked us to stop before run.ts installed its stop: run it once it does. */
  #stopAsked = false;
  /** The config every worker agreed on last: what a failed reload goes back to. */
  #settled: Config | undefined;
  /** Reloads applied here whose outcome elsewhere is not known yet: the config before each. */
  readonly #unsettled = new Map<number, Config>();
  #seq = 0;
  readonly #pending = new Map<number, { resolve: (body: string | undefined) => void; reject: (err: Error) => void }>();
  /** Certificate pushes that arrived before the app was built: applied once it is. */
  readonly #early: string[][] = [];
  readonly #onObtained = (message: unknown): void => {
    const m = message as Events['my-server:cert:obtained'];
    this.#send({ t: 'ms:certs', names: [...m.names] });
  };
  readonly #onMessage = (message: unknown): void => {
    if (isOurs<ToWorker>(message)) this.#handle(message);
  };

  /** Installs the message handler at once, so nothing the primary sends is missed, and says hello. */
  constructor(id: number, log: Logger, configFile: string) {
    this.id = id;
    this.#configFile = configFile;
    this.#log = log;
    this.#leader = process.env[WORKER_LEADER_ENV] === '1';
    process.on('message', this.#onMessage);
    shareListeners(process.env[DISTRIBUTION_ENV] === 'primary' ? 'primary' : 'reuseport', (err) =>
      this.#log.warn({ err: err.code }, 'the kernel refused SO_REUSEPORT: the primary process distributes connections instead'),
    );
    this.#send({ t: 'ms:hello' });
  }

  /** The leader renews configured names and serves the admin API; the others follow. */
  get leader(): boolean {
    return this.#leader;
  }

  /** What the primary's stop runs (run.ts: the same graceful stop as SIGTERM). */
  onStop(stop: (trigger: string) => void): void {
    this.#stop = stop;
    if (this.#stopAsked) stop('primary');
  }

  /** The app is serving: from now on its certificate changes are pushed and pushes reach it. */
  attach(app: App): void {
    this.#app = app;
    this.#settled = app.config;
    subscribe('my-server:cert:obtained', this.#onObtained);
    app.metrics.aggregateWith(async () => (await this.#ask({ t: 'ms:metrics', seq: 0 })) ?? '');
    for (const names of this.#early.splice(0)) app.certificatesStored(names);
    // Promoted while the app was still starting (the leader died meanwhile): take over now.
    if (this.#leader) app.lead().catch((err: unknown) => this.#log.error({ err }, 'taking over as leader failed'));
    this.#send({ t: 'ms:serving' });
  }

  /**
   * After the admin API applied a config in this worker: every other worker applies it too. When
   * one fails, the others went back to their previous config and so does this one; rejects with
   * what failed.
   */
  async fanOut(load: { readonly text?: string }): Promise<void> {
    try {
      await this.#ask({ t: 'ms:fan-out', seq: 0, ...(load.text !== undefined ? { text: load.text } : {}) });
      const workers = this.#app?.config.globals.workers;
      if (this.#settled && workers !== this.#settled.globals.workers) this.#log.warn({ workers: workers ?? 1 }, 'workers changed: the number of workers changes at the next start');
      this.#settled = this.#app?.config;
    } catch (err) {
      await this.#revert(this.#settled);
      throw new Error(`not applied, every worker stays on the previous config: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** SIGHUP sent to this worker: the primary reloads every worker from the file. */
  reloadAll(): void {
    this.#send({ t: 'ms:reload-all' });
  }

  /** The app stopped: let go of the channel so the process can exit. */
  close(): void {
    unsubscribe('my-server:cert:obtained', this.#onObtained);
    process.off('message', this.#onMessage);
    for (const p of this.#pending.values()) p.reject(new Error('worker stopping'));
    this.#pending.clear();
    // Through the cluster worker, not process.disconnect(): node:cluster makes a worker whose
    // channel closes under it exit 0 at once, which would report a worker that failed to start as
    // a clean exit; this way the process exits when its work is done, with the code run gave it.
    if (process.connected) (cluster.worker ?? process).disconnect();
  }

  #ask(message: Extract<ToPrimary, { seq: number }>): Promise<string | undefined> {
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      this.#send({ ...message, seq });
    });
  }

  #handle(m: ToWorker): void {
    switch (m.t) {
      case 'ms:lead':
        if (this.#leader) return;
        this.#leader = true;
        this.#log.info('this worker leads now: renewals and the admin API');
        this.#app?.lead().catch((err: unknown) => this.#log.error({ err }, 'taking over as leader failed'));
        return;
      case 'ms:certs':
        if (this.#app) this.#app.certificatesStored(m.names);
        else this.#early.push([...m.names]);
        return;
      case 'ms:stop':
        if (this.#stop) this.#stop('primary');
        else this.#stopAsked = true;
        return;
      case 'ms:reload':
        void this.#reload(m.seq, m.text);
        return;
      case 'ms:metrics-json':
        void this.#metricsJson(m.seq);
        return;
      case 'ms:settle': {
        const before = this.#unsettled.get(m.seq);
        this.#unsettled.delete(m.seq);
        if (m.revert) void this.#revert(before);
        else this.#settled = this.#app?.config;
        return;
      }
      case 'ms:done': {
        const p = this.#pending.get(m.seq);
        this.#pending.delete(m.seq);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.body);
        return;
      }
    }
  }

  /** Back to `config` after a reload another worker could not apply; logged, never rejects. */
  async #revert(config: Config | undefined): Promise<void> {
    if (!this.#app || !config || this.#app.config === config) return;
    try {
      await this.#app.reload(config);
      this.#log.warn('reload failed in another worker: back on the previous config');
    } catch (err) {
      this.#log.error({ err }, 'going back to the previous config failed: this worker keeps the new one');
    }
  }

  async #metricsJson(seq: number): Promise<void> {
    try {
      if (!this.#app) throw new Error('not serving yet');
      this.#send({ t: 'ms:metrics-json', seq, metrics: await this.#app.metrics.registry.getMetricsAsJSON() });
    } catch (err) {
      this.#send({ t: 'ms:metrics-json', seq, error: err instanceof Error ? err.message : String(err) });
    }
  }

  async #reload(seq: number, text: string | undefined): Promise<void> {
    const app = this.#app;
    try {
      if (!app) throw new Error('not serving yet');
      const before = app.config;
      if (text !== undefined) {
        const { parseConfig } = await import('../config/index.ts');
        await app.reload(await parseConfig(text, { filename: this.#configFile }));
      } else {
        await app.reloadFromFile();
      }
      this.#unsettled.set(seq, before);
      if (this.#leader && before.globals.workers !== app.config.globals.workers) {
        this.#log.warn({ workers: app.config.globals.workers ?? 1 }, 'workers changed: the number of workers changes at the next start');
      }
      this.#send({ t: 'ms:reloaded', seq });
    } catch (err) {
      this.#send({ t: 'ms:reloaded', seq, error: err instanceof Error ? err.message : String(err) });
    }
  }

  #send(message: ToPrimary): void {
    sendMessage(process, message, (err) => this.#log.debug({ err: err.message, message: message.t }, 'a message to the primary was not delivered (it is gone)'));
  }
}
