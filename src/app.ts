/**
 * The one place that knows the whole graph: builds the runtime from a Config and runs it.
 * start() / reload(next) / close(). What a reload changes is decided by app/plan.ts, the storage
 * stack is app/stack.ts, which issuer serves a name config/adapt.ts `issuerFor`.
 */
import type { SecureContext } from 'node:tls';
import type { ConnectionLimits } from './util/timeouts.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminApi } from './app/admin.ts';
import { Generation, type ListenerKey } from './app/generation.ts';
import { AccessLogs } from './app/access-log.ts';
import { ConfigSource } from './app/config-source.ts';
import { Listeners } from './app/listeners.ts';
import { tuneV8 } from './app/heap-tuning.ts';
import { plan, planInput, type PlanInput } from './app/plan.ts';
import { acmeSettingsFor, Stack, type Issuers } from './app/stack.ts';
import { normalizeName } from './certs/names.ts';
import { formatIssue, parseConfig } from './config/index.ts';
import type { Config } from './config/types.ts';
import { HttpFront } from './http/http-front.ts';
import { RequestHandler } from './http/request-handler.ts';
import { reconfigureLogger, type Logger } from './log.ts';
import { Metrics } from './metrics/metrics.ts';
import { DEFAULT_CERTIFICATE_SERIES_LIMIT } from './metrics/certificate-series.ts';
import { checkLogOutputs, logOptionsFor, onDemandPolicyFor } from './app/setup.ts';
import { TlsFront, TLS_CONTEXT_OPTIONS } from './tls/tls-front.ts';
import { withSniDefaults } from './tls/sni-defaults.ts';

export interface AppOptions {
  readonly log: Logger;
  /** The Proxyfile path, for reloads from the file (SIGHUP, --watch, the admin API's /reload). */
  readonly configFile?: string;
  /** `run --watch`: reload when the Proxyfile or a file it imports changes. */
  readonly watch?: boolean;
  readonly userAgent?: string;
  /**
   * A follower of `workers N` (cluster/worker.ts): no renewals of configured names and no admin
   * API until lead() makes it the leader.
   */
  readonly follower?: boolean;
  /**
   * `workers N`: after the admin API applied a config here (`text` for /load, none for a reload
   * from the file), the other workers apply it too; rejects naming the ones that failed.
   */
  readonly fanOut?: (load: { readonly text?: string }) => Promise<void>;
}

type Front = { kind: 'https'; front: TlsFront } | { kind: 'http'; front: HttpFront };

export class App {
  #config: Config;
  #caRoots: string | undefined;
  readonly #o: AppOptions;
  readonly #log: Logger;
  #gen: Generation | undefined;
  /** Storage and everything keeping state in it; replaced whole by a reload that changes `storage`. */
  #stack: Stack | undefined;
  /**
   * The stack a reload replaced, until its grace period ends: its orders are aborted, but a
   * validation the CA already started still finds its challenge answered.
   */
  #retiring: Stack | undefined;
  #issuers: Issuers | undefined;
  readonly #fronts = new Listeners<Front>((l, limits) => this.#makeFront(l, limits));
  readonly #admin: AdminApi;
  readonly #metrics: Metrics;
  readonly #accessLogs = new AccessLogs();
  /** Every config change comes through it, one at a time: start, file watch, SIGHUP, the admin API. */
  readonly #source: ConfigSource;
  #onDemand: { authorize(name: string): Promise<void> } | undefined;
  /** start() succeeded and close() has not begun: a close now waits shutdown_delay first. */
  #serving = false;
  #requests: RequestHandler | undefined;
  /** Renews configured names and serves the admin API: false only in a follower worker. */
  #leading: boolean;

  constructor(config: Config, options: AppOptions) {
    this.#config = config;
    this.#o = options;
    this.#log = options.log;
    this.#leading = options.follower !== true;
    this.#metrics = new Metrics({ log: options.log.child({ logger: 'metrics' }), certificates: () => this.#stack?.manager.lifecycle() ?? [] });
    this.#admin = new AdminApi({
      metrics: this.#metrics,
      log: this.#log.child({ logger: 'admin' }),
      load: async (text) => {
        await this.reload(await parseConfig(text, { filename: this.#o.configFile ?? 'admin-load' }));
        await this.#o.fanOut?.({ text });
      },
      reload: async () => {
        await this.reloadFromFile();
        await this.#o.fanOut?.({});
      },
      certificates: () => this.#stack?.manager.lifecycle() ?? [],
    });
    this.#source = new ConfigSource({
      ...(options.configFile !== undefined ? { file: options.configFile } : {}),
      watch: options.watch === true,
      log: options.log,
      apply: async (next) => this.#apply(await planInput(next)),
      current: () => this.#config,
    });
  }

  get config(): Config {
    return this.#config;
  }

  /** This process's metrics (cluster/worker.ts aggregates them across workers). */
  get metrics(): Metrics {
    return this.#metrics;
  }

  /** Binds every listener and starts serving at once; certificates are obtained in the background. */
  async start(): Promise<void> {
    tuneV8();
    try {
      this.#metrics.subscribe();
      await this.#source.push(() => this.#config);
      this.#serving = true;
    } catch (err) {
      // Nothing half-started stays behind: listeners bound before the failure are closed again.
      await this.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Swap in a new config: built completely first (an invalid one throws and the running config
   * keeps serving); listeners only rebound when their ports change; the old site handlers are
   * closed after the grace period so requests and WebSockets in flight finish on them.
   */
  reload(next: Config): Promise<void> {
    return this.#source.push(() => next);
  }

  /** Reads the config file again and reloads (admin /reload); rejects as reload() does. */
  reloadFromFile(): Promise<void> {
    return this.#source.fromFile();
  }

  /** A reload asked for by a signal (SIGHUP): logged, never rejects. */
  requestReload(trigger: string): Promise<void> {
    return this.#source.request(trigger);
  }

  /** `workers N`: this worker becomes the leader (the previous one died): renewals and the admin API. */
  async lead(): Promise<void> {
    if (this.#leading) return;
    this.#leading = true;
    this.#stack?.manager.setMaintenance(true);
    await this.#admin.start(this.#config.globals.admin);
  }

  /** `workers N`: another worker stored certificates for `names`; serve them now. */
  certificatesStored(names: readonly string[]): void {
    this.#stack?.manager.reloadNames(names);
  }

  /** Start or reload (ConfigSource runs one at a time): everything is built and bound before anything is swapped. */
  async #apply(next: PlanInput): Promise<void> {
    const first = this.#stack === undefined;
    const config = next.config;
    const g = config.globals;
    const p = plan(first ? undefined : { config: this.#config, caRoots: this.#caRoots }, next);
    // At start `run` logs them; a reload (file watch, SIGHUP, admin /load) logs its own config's.
    if (!first) for (const w of config.warnings ?? []) this.#log.warn({ file: w.file, line: w.line, col: w.col }, formatIssue(w));
    // Log files open asynchronously, too late to reject the reload: check them first.
    checkLogOutputs(config);
    // A changed `storage` gets a new storage with its own manager, challenge store, local CA and
    // ACME accounts, as a restart would (Caddy does the same). Opened before anything changes, so
    // an unreachable one fails the reload; the running stack serves until the new one is bound.
    const stack = p.storage ? await this.#openStack(config) : this.#stack!;
    const issuers = p.storage || p.acme ? stack.issuers(acmeSettingsFor(g, next.caRoots)) : this.#issuers!;
    let gen: Generation;
    try {
      gen = await Generation.build(config, issuers, this.#log, TLS_CONTEXT_OPTIONS, { metrics: this.#metrics });
      await this.#fronts.bind(p.listeners, config).catch(async (err: unknown) => {
        await gen.close();
        throw err;
      });
    } catch (err) {
      if (stack !== this.#stack) await stack.close();
      throw err;
    }
    const old = { gen: this.#gen, stack: this.#stack };
    this.#config = config;
    this.#caRoots = next.caRoots;
    this.#issuers = issuers;
    if (p.onDemand) this.#onDemand = onDemandPolicyFor(g);
    // Managed before it serves, so handshakes wait for its certificates rather than find none. The
    // new generation's on-demand coverage: cached on-demand names whose issuer it changes are dropped.
    stack.manager.manage(gen.managed, (name) => gen.onDemandCovers(name));
    this.#stack = stack;
    this.#gen = gen;
    if (old.stack && old.stack !== stack) this.#retire(old.stack, g.gracePeriodMs);
    if (p.log && !first) {
      reconfigureLogger(this.#log, logOptionsFor(g));
      this.#log.info({ log: logOptionsFor(g) }, 'log options changed');
    }
    this.#metrics.configure({ certificates: [...gen.managed.keys()], upstreams: gen.upstreamAddresses(), certificateSeriesLimit: g.metrics?.perCertificateLimit ?? DEFAULT_CERTIFICATE_SERIES_LIMIT });
    this.#accessLogs.prune(config);
    if (old.gen) setTimeout(() => void old.gen?.close(), g.gracePeriodMs).unref();
    if (p.files) await this.#source.watch(config);
    if (first) {
      if (this.#leading) await this.#admin.start(g.admin);
      this.#log.info({ listeners: this.#fronts.ids(), sites: config.sites.length, storage: stack.toString() }, 'serving');
      return;
    }
    if (p.admin && this.#leading) this.#admin.move(g.admin);
    this.#log.info({ listeners: this.#fronts.ids(), sites: config.sites.length }, 'config reloaded');
  }

  async #openStack(config: Config): Promise<Stack> {
    const stack = await Stack.open(config.globals, {
      log: this.#log,
      contextOptions: TLS_CONTEXT_OPTIONS,
      ...(this.#o.userAgent !== undefined ? { userAgent: this.#o.userAgent } : {}),
      onDemand: {
        covers: (name: string) => this.#gen?.onDemandCovers(name),
        authorize: (name: string) => this.#onDemand!.authorize(name),
      },
    });
    // Before manage(): a follower must not start renewals the leader makes.
    stack.manager.setMaintenance(this.#leading);
    return stack;
  }

  /**
   * The old stack's manager stops at once (its orders in flight are aborted: they would store into
   * a storage no longer read); its challenge answers stay up until the grace period ends.
   */
  #retire(previous: Stack, graceMs: number): void {
    void previous.stop();
    this.#retiring = previous;
    this.#log.info({ from: previous.toString(), to: this.#stack?.toString() }, 'storage changed');
    setTimeout(() => {
      if (this.#retiring === previous) this.#retiring = undefined;
      void previous.close();
    }, graceMs).unref();
  }

  /**
   * Stop accepting, let requests in flight finish up to grace_period, then release everything.
   * Once serving, `shutdown_delay` comes first (Caddy's): everything keeps serving normally for
   * that long, so a load balancer can take this instance out of rotation before it stops accepting.
   */
  async close(): Promise<void> {
    const delayMs = this.#serving ? (this.#config.globals.shutdownDelayMs ?? 0) : 0;
    this.#serving = false;
    if (delayMs > 0) {
      this.#log.info({ delayMs }, 'shutdown delayed: still serving');
      await sleep(delayMs);
    }
    await this.#source.close();
    await Promise.all([this.#admin.close(), this.#fronts.close(this.#config.globals.gracePeriodMs)]);
    // Issuance in flight is aborted and awaited before the storage under it closes.
    await Promise.all([this.#stack?.close(), this.#retiring?.close()]);
    await this.#gen?.close();
    this.#metrics.close();
    this.#accessLogs.close();
    // Rolled files are gzipped and the last lines flushed only once the streams have closed.
    await this.#accessLogs.closed;
  }

  #makeFront(l: ListenerKey, limits: ConnectionLimits): Front {
    const log = this.#log.child({ logger: l.protocol === 'https' ? 'tls' : 'http' });
    // One request path for every listener; it reads the generation and the stacks through `this`
    // at each request, so reloads need not touch it.
    const requests = (this.#requests ??= new RequestHandler({
      generation: () => this.#gen,
      http01: () => [this.#stack?.http01, this.#retiring?.http01],
      accessLogs: this.#accessLogs,
      log: this.#log,
    }));
    if (l.protocol === 'https') {
      return {
        kind: 'https',
        front: new TlsFront({
          certificates: withSniDefaults(
            {
              secureContextFor: (name) => this.#secureContextFor(name),
              loadedContextFor: (name) => this.#gen?.manualFor(name) ?? this.#stack?.manager.loadedContextFor(name),
            },
            () => this.#config.globals,
          ),
          // Through `this`: a reload that changes storage replaces the solver.
          challenges: { challengeContextFor: (name) => this.#challengeContextFor(name) },
          onRequest: (req, res) => void requests.handle(req, res, 'https', l.port),
          onUpgrade: (req, socket, head) => void requests.upgrade(req, socket, head, 'https', l.port),
          log,
          limits,
        }),
      };
    }
    return {
      kind: 'http',
      front: new HttpFront({
        onRequest: (req, res) => void requests.handle(req, res, 'http', l.port),
        onUpgrade: (req, socket, head) => void requests.upgrade(req, socket, head, 'http', l.port),
        log,
        limits,
      }),
    };
  }

  async #secureContextFor(servername: string): Promise<SecureContext | undefined> {
    const name = normalizeName(servername);
    if (name === undefined) return undefined;
    return this.#gen?.manualFor(name) ?? (await this.#stack?.manager.secureContextFor(name));
  }

  /** A TLS-ALPN-01 challenge certificate from the current stack, else from the retiring one. */
  async #challengeContextFor(name: string): Promise<SecureContext | undefined> {
    const current = await this.#stack?.tlsAlpn01.challengeContextFor(name);
    return current ?? (await this.#retiring?.tlsAlpn01.challengeContextFor(name));
  }
}
