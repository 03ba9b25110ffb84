/**
 * The one place that knows the whole graph: builds the runtime from a Config and runs it.
 * start() / reload(next) / close(grace).
 */
import type { SecureContext } from 'node:tls';
import { AdminServer } from './admin/admin-server.ts';
import { Generation, listenerId, type IssuerFactory, type ListenerKey } from './app/generation.ts';
import { AccessLogs } from './app/access-log.ts';
import type { AcmeClient } from './acme/client.ts';
import { loadOrCreateAccount } from './certs/account.ts';
import { AcmeIssuer } from './certs/acme-issuer.ts';
import { CertificateStore } from './certs/certificate-store.ts';
import type { Issuer } from './certs/issuer.ts';
import { LocalIssuer } from './certs/local-issuer.ts';
import { CertificateManager } from './certs/manager.ts';
import { OnDemandPolicy } from './certs/on-demand.ts';
import { normalizeName } from './certs/names.ts';
import { ChallengeStore } from './challenges/challenge-store.ts';
import { Http01Solver } from './challenges/http-01.ts';
import { TlsAlpn01Solver } from './challenges/tls-alpn-01.ts';
import type { Solver } from './challenges/solver.ts';
import { parseConfig, loadConfig, watchConfig, type ConfigWatcher } from './config/index.ts';
import type { Config } from './config/types.ts';
import { MyServerError } from './errors.ts';
import { HttpFront } from './http/http-front.ts';
import { RequestHandler } from './http/request-handler.ts';
import { reconfigureLogger, type Logger } from './log.ts';
import { Metrics } from './metrics/metrics.ts';
import { createStorage, type ClosableStorage } from './storage/index.ts';
import { checkLogOutputs, logOptionsFor, readCaRoot, storageSpecFor } from './app/setup.ts';
import { TlsFront, TLS_CONTEXT_OPTIONS } from './tls/tls-front.ts';

export interface AppOptions {
  readonly log: Logger;
  /** The Proxyfile path, for reload() and the admin API's /reload. */
  readonly configFile?: string;
  readonly userAgent?: string;
}

type Front = { kind: 'https'; front: TlsFront } | { kind: 'http'; front: HttpFront };

interface StorageStack {
  /** storageSpecFor(globals) as JSON: a reload that changes it opens a new stack. */
  readonly key: string;
  readonly storage: ClosableStorage;
  readonly http01: Http01Solver;
  readonly tlsAlpn01: TlsAlpn01Solver;
  readonly local: LocalIssuer;
  readonly manager: CertificateManager;
  /** ACME issuers and accounts made over this storage, keyed by everything else they are built from. */
  readonly acmeIssuers: Map<string, AcmeIssuer>;
  readonly accounts: Map<string, Promise<AcmeClient>>;
}

export class App {
  #config: Config;
  readonly #o: AppOptions;
  readonly #log: Logger;
  #gen: Generation | undefined;
  /** Storage and everything keeping state in it; replaced whole by a reload that changes `storage`. */
  #stack: StorageStack | undefined;
  /**
   * The stack a reload replaced, until its grace period ends: its orders in flight still get their
   * challenges answered (the CA validates against whatever this process serves).
   */
  #retiring: StorageStack | undefined;
  readonly #fronts = new Map<string, Front>();
  #admin: AdminServer | undefined;
  readonly #metrics: Metrics;
  readonly #accessLogs = new AccessLogs();
  #reloading: Promise<void> = Promise.resolve();
  #onDemand: { key: string; policy: OnDemandPolicy | undefined } | undefined;
  #manualWatch: { files: string; watcher: ConfigWatcher } | undefined;
  #caRoots: string | undefined;
  #requests: RequestHandler | undefined;

  constructor(config: Config, options: AppOptions) {
    this.#config = config;
    this.#o = options;
    this.#log = options.log;
    this.#metrics = new Metrics({ log: options.log.child({ logger: 'metrics' }) });
  }

  get config(): Config {
    return this.#config;
  }

  /** Binds every listener and starts serving at once; certificates are obtained in the background. */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (err) {
      // Nothing half-started stays behind: listeners bound before the failure are closed again.
      await this.close().catch(() => undefined);
      throw err;
    }
  }

  async #start(): Promise<void> {
    const g = this.#config.globals;
    checkLogOutputs(this.#config);
    this.#metrics.subscribe();
    const stack = await this.#openStorage(g);
    this.#stack = stack;
    this.#caRoots = await readCaRoot(g);
    const gen = await Generation.build(this.#config, this.#issuerFactory(stack), this.#log, TLS_CONTEXT_OPTIONS);
    await this.#bind(gen);
    this.#gen = gen;
    this.#watchManualCertificates(gen);
    stack.manager.manage(gen.managed);
    this.#metrics.configure({ certificates: [...gen.managed.keys()], upstreams: gen.upstreamAddresses() });
    await this.#startAdmin();
    this.#log.info({ listeners: [...this.#fronts.keys()], sites: this.#config.sites.length, storage: stack.storage.toString() }, 'serving');
  }

  /**
   * Storage and everything that keeps state in it: the challenge store behind both solvers, the
   * local CA and the certificate manager. Built whole, so a reload can swap one set for another.
   */
  async #openStorage(g: Config['globals']): Promise<StorageStack> {
    const spec = storageSpecFor(g);
    const storage = await createStorage(spec);
    const challengeStore = new ChallengeStore({ storage });
    return {
      key: JSON.stringify(spec),
      storage,
      http01: new Http01Solver({ store: challengeStore }),
      tlsAlpn01: new TlsAlpn01Solver({ store: challengeStore }),
      local: new LocalIssuer({ storage, log: this.#log.child({ logger: 'local-ca' }) }),
      manager: new CertificateManager({
        storage,
        store: new CertificateStore(storage),
        log: this.#log.child({ logger: 'certs' }),
        contextOptions: TLS_CONTEXT_OPTIONS,
        onDemand: {
          covers: (name: string) => this.#gen?.onDemandCovers(name),
          authorize: (name: string) => this.#onDemandPolicy().authorize(name),
        },
      }),
      acmeIssuers: new Map(),
      accounts: new Map(),
    };
  }

  /**
   * Swap in a new config: built completely first (an invalid one throws and the running config
   * keeps serving); listeners only rebound when their ports change; the old site handlers are
   * closed after the grace period so requests and WebSockets in flight finish on them.
   */
  reload(next: Config): Promise<void> {
    const run = this.#reloading.then(() => this.#reload(next));
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reload(next: Config): Promise<void> {
    const caRoots = await readCaRoot(next.globals);
    const logChanged = JSON.stringify(next.globals.log) !== JSON.stringify(this.#config.globals.log);
    // Log files open asynchronously, too late to reject the reload: check them first.
    checkLogOutputs(next);
    const previousRoots = this.#caRoots;
    const previousConfig = this.#config;
    const previous = this.#stack!;
    // A changed `storage` gets a new storage with its own manager, challenge store, local CA and
    // ACME accounts, as a restart would (Caddy does the same): certificates are then loaded from,
    // or obtained into, the new storage. Opened before anything changes, so an unreachable one
    // fails the reload; the running stack serves until the new generation is bound.
    const fresh = JSON.stringify(storageSpecFor(next.globals)) !== previous.key ? await this.#openStorage(next.globals) : undefined;
    const stack = fresh ?? previous;
    // The issuer factory reads these: the new generation's issuers must see the new values.
    this.#caRoots = caRoots;
    this.#config = next;
    const restore = async (): Promise<void> => {
      this.#caRoots = previousRoots;
      this.#config = previousConfig;
      if (fresh) {
        fresh.manager.close();
        await fresh.storage.close();
      }
    };
    let gen: Generation;
    try {
      gen = await Generation.build(next, this.#issuerFactory(stack), this.#log, TLS_CONTEXT_OPTIONS);
    } catch (err) {
      await restore();
      throw err;
    }
    try {
      await this.#bind(gen);
    } catch (err) {
      await restore();
      await gen.close();
      throw err;
    }
    if (fresh) {
      // Managed before it serves, so handshakes wait for its certificates rather than find none.
      fresh.manager.manage(gen.managed);
      this.#stack = fresh;
      // The old manager stops scheduling; an order it has running finishes (obtain takes no
      // signal), its challenges still answered from the retiring stack until the grace period ends.
      previous.manager.close();
      this.#retiring = previous;
      this.#log.info({ from: previous.storage.toString(), to: fresh.storage.toString() }, 'storage changed');
      setTimeout(() => {
        if (this.#retiring === previous) this.#retiring = undefined;
        void previous.storage.close();
      }, next.globals.gracePeriodMs).unref();
    }
    if (logChanged) {
      reconfigureLogger(this.#log, logOptionsFor(next.globals));
      this.#log.info({ log: logOptionsFor(next.globals) }, 'log options changed');
    }
    const old = this.#gen;
    const adminChanged = JSON.stringify(next.globals.admin) !== JSON.stringify(previousConfig.globals.admin);
    this.#gen = gen;
    this.#watchManualCertificates(gen);
    this.#stack?.manager.manage(gen.managed);
    this.#metrics.configure({ certificates: [...gen.managed.keys()], upstreams: gen.upstreamAddresses() });
    this.#accessLogs.prune(next);
    const grace = next.globals.gracePeriodMs;
    if (old) setTimeout(() => void old.close(), grace).unref();
    if (adminChanged) {
      // Not awaited here: /load runs inside the admin server, whose close waits for that request.
      setImmediate(() => {
        void (async () => {
          await this.#admin?.close();
          this.#admin = undefined;
          await this.#startAdmin().catch((err: unknown) => this.#log.error({ err }, 'starting the admin API after reload failed'));
        })();
      });
    }
    this.#log.info({ listeners: [...this.#fronts.keys()], sites: next.sites.length }, 'config reloaded');
  }

  /**
   * `tls CERT KEY` files are the user's to replace (SPEC): when one changes, the running config is
   * built again, which reads them again. Watched whatever --watch says.
   */
  #watchManualCertificates(gen: Generation): void {
    const files = [...new Set(gen.manualFiles)].sort();
    const key = files.join('\n');
    if (this.#manualWatch?.files === key) return;
    void this.#manualWatch?.watcher.close();
    this.#manualWatch = undefined;
    const [first, ...rest] = files;
    if (first === undefined) return;
    const watcher = watchConfig(first, rest, () => {
      this.#log.info({ files }, 'a certificate file changed: loading it again');
      this.reload(this.#config).catch((err: unknown) => this.#log.error({ err }, 'loading changed certificate files failed; the old ones keep serving'));
    });
    this.#manualWatch = { files: key, watcher };
  }

  /** Reads the config file again and reloads (SIGHUP, --watch, admin /reload). */
  async reloadFromFile(): Promise<void> {
    if (this.#o.configFile === undefined) throw new MyServerError('MS_ERR_CONFIG', 'no config file to reload from');
    await this.reload(await loadConfig(this.#o.configFile));
  }

  /** Stop accepting, let requests in flight finish up to grace_period, then release everything. */
  async close(): Promise<void> {
    await this.#reloading;
    await this.#manualWatch?.watcher.close();
    const grace = this.#config.globals.gracePeriodMs;
    await Promise.all([this.#admin?.close(), ...[...this.#fronts.values()].map((f) => f.front.close(grace))]);
    this.#fronts.clear();
    this.#stack?.manager.close();
    await this.#gen?.close();
    this.#metrics.close();
    this.#accessLogs.close();
    await this.#stack?.storage.close();
    if (this.#retiring) await this.#retiring.storage.close();
  }

  /** Open listeners the generation needs and the app lacks; close those it no longer needs. */
  async #bind(gen: Generation): Promise<void> {
    const binds = gen.config.globals.defaultBind.length > 0 ? gen.config.globals.defaultBind : [undefined];
    const bindKey = binds.join(',');
    const wanted = new Map<string, ListenerKey>(gen.listeners.map((l) => [`${listenerId(l)}@${bindKey}`, l]));
    const opened: string[] = [];
    try {
      for (const [id, l] of wanted) {
        if (this.#fronts.has(id)) continue;
        const front = this.#makeFront(l);
        this.#fronts.set(id, front);
        opened.push(id);
        await front.front.listen(l.port, binds);
      }
    } catch (err) {
      for (const id of opened) {
        await this.#fronts.get(id)?.front.close(0);
        this.#fronts.delete(id);
      }
      throw err;
    }
    for (const [id, f] of this.#fronts) {
      if (!wanted.has(id) && !opened.includes(id)) {
        this.#fronts.delete(id);
        void f.front.close(gen.config.globals.gracePeriodMs);
      }
    }
  }

  #makeFront(l: ListenerKey): Front {
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
          certificates: {
            secureContextFor: (name) => this.#secureContextFor(name),
            loadedContextFor: (name) => this.#gen?.manualFor(name) ?? this.#stack?.manager.loadedContextFor(name),
          },
          // Through `this`: a reload that changes storage replaces the solver.
          challenges: { challengeContextFor: (name) => this.#challengeContextFor(name) },
          onRequest: (req, res) => void requests.handle(req, res, 'https', l.port),
          onUpgrade: (req, socket, head) => void requests.upgrade(req, socket, head, 'https', l.port),
          log,
        }),
      };
    }
    return {
      kind: 'http',
      front: new HttpFront({
        onRequest: (req, res) => void requests.handle(req, res, 'http', l.port),
        onUpgrade: (req, socket, head) => void requests.upgrade(req, socket, head, 'http', l.port),
        log,
      }),
    };
  }

  async #secureContextFor(servername: string): Promise<SecureContext | undefined> {
    const name = normalizeName(servername);
    if (name === undefined) return undefined;
    return this.#gen?.manualFor(name) ?? (await this.#stack?.manager.secureContextFor(name));
  }

  /**
   * The on-demand policy of the running config, rebuilt when on_demand_tls changes (and kept
   * otherwise, so a reload does not reset the rate limit's budget).
   */
  #onDemandPolicy(): { authorize(name: string): Promise<void> } {
    const o = this.#config.globals.onDemandTls;
    const key = JSON.stringify(o ?? null);
    if (this.#onDemand?.key !== key) {
      this.#onDemand = {
        key,
        policy:
          o?.ask !== undefined
            ? new OnDemandPolicy({
                ask: o.ask,
                ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
                ...(o.burst !== undefined ? { burst: o.burst } : {}),
              })
            : undefined,
      };
    }
    const policy = this.#onDemand.policy;
    // The config requires `ask` for on-demand sites; without it nothing is authorized.
    return policy ?? { authorize: (name) => Promise.reject(new MyServerError('MS_ERR_POLICY', `on-demand certificate for ${name} refused: no on_demand_tls ask`)) };
  }

  /** A TLS-ALPN-01 challenge certificate from the current stack, else from the retiring one. */
  async #challengeContextFor(name: string): Promise<SecureContext | undefined> {
    const current = await this.#stack?.tlsAlpn01.challengeContextFor(name);
    return current ?? (await this.#retiring?.tlsAlpn01.challengeContextFor(name));
  }

  /** Issuers over `stack`: an issuer keeps the storage and solvers it was made with. */
  #issuerFactory(stack: StorageStack): IssuerFactory {
    return {
      local: (): Issuer => stack.local,
      acme: ({ ca, email, challenges }): Issuer => {
        const g = this.#config.globals;
        // Everything an issuer is built from: a reload that changes any of it gets a new issuer
        // (and, for the account's part, a new account client).
        const key = JSON.stringify([ca, email ?? '', challenges ?? [], g.acmeEab ?? null, g.acmeProfile ?? null, g.certLifetimeMs ?? null, this.#caRoots ?? null]);
        let issuer = stack.acmeIssuers.get(key);
        if (!issuer) {
          const accountKey = JSON.stringify([ca, email ?? '', g.acmeEab ?? null, this.#caRoots ?? null]);
          const client = (): Promise<AcmeClient> => {
            let p = stack.accounts.get(accountKey);
            if (!p) {
              p = loadOrCreateAccount({
                directoryUrl: ca,
                storage: stack.storage,
                log: this.#log.child({ logger: 'acme' }),
                ...(email !== undefined ? { email } : {}),
                ...(this.#caRoots !== undefined ? { caRoots: this.#caRoots } : {}),
                ...(this.#config.globals.acmeEab ? { eab: this.#config.globals.acmeEab } : {}),
                ...(this.#o.userAgent !== undefined ? { userAgent: this.#o.userAgent } : {}),
              });
              // A failed account setup is retried at the next issuance, not cached for ever.
              p.catch(() => stack.accounts.delete(accountKey));
              stack.accounts.set(accountKey, p);
            }
            return p;
          };
          const solvers = new Map<string, Solver>([
            ['tls-alpn-01', stack.tlsAlpn01],
            ['http-01', stack.http01],
          ]);
          issuer = new AcmeIssuer({
            client,
            directoryUrl: ca,
            solvers,
            log: this.#log.child({ logger: 'acme' }),
            ...(challenges ? { challengeTypes: challenges } : {}),
            ...(this.#config.globals.acmeProfile !== undefined ? { profile: this.#config.globals.acmeProfile } : {}),
            ...(this.#config.globals.certLifetimeMs !== undefined ? { lifetimeMs: this.#config.globals.certLifetimeMs } : {}),
          });
          stack.acmeIssuers.set(key, issuer);
        }
        return issuer;
      },
    };
  }

  async #startAdmin(): Promise<void> {
    const admin = this.#config.globals.admin;
    if (admin === false) return;
    this.#admin = new AdminServer({
      address: admin.address,
      metrics: this.#metrics,
      log: this.#log.child({ logger: 'admin' }),
      app: {
        load: async (text) => {
          const next = await parseConfig(text, { filename: this.#o.configFile ?? 'admin-load' });
          await this.reload(next);
        },
        reload: () => this.reloadFromFile(),
        certificates: () =>
          Promise.resolve(
            (this.#stack?.manager.certificates() ?? []).map((c) => ({
              names: c.meta.names,
              issuer: c.meta.issuer,
              issuerName: c.meta.issuerName,
              notBefore: c.meta.notBefore,
              notAfter: c.meta.notAfter,
              serial: c.meta.serialHex,
              storageKey: c.keys.cert,
            })),
          ),
      },
    });
    await this.#admin.listen();
  }
}
