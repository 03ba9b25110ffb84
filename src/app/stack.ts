/**
 * The storage stack: storage and everything that keeps state in it (the challenge store behind
 * both solvers, the local CA, the certificate manager, ACME issuers and their accounts). `run`
 * (app.ts) and the `certs` commands (cli/certs-context.ts) open it the same way, so the two never
 * disagree about where certificates, accounts and challenge answers live.
 */
import type tls from 'node:tls';
import type { AcmeClient } from '../acme/client.ts';
import { loadOrCreateAccount } from '../certs/account.ts';
import { AcmeIssuer } from '../certs/acme-issuer.ts';
import { CertificateStore } from '../certs/certificate-store.ts';
import type { Issuer } from '../certs/issuer.ts';
import { LocalIssuer } from '../certs/local-issuer.ts';
import { CertificateManager, type CertificateManagerOptions } from '../certs/manager.ts';
import { ChallengeStore } from '../challenges/challenge-store.ts';
import { Http01Solver } from '../challenges/http-01.ts';
import type { Solver } from '../challenges/solver.ts';
import { TlsAlpn01Solver } from '../challenges/tls-alpn-01.ts';
import { dnsSettingsKey, withDns01 } from '../dns/index.ts';
import type { IssuerChoice } from '../config/adapt.ts';
import type { GlobalOptions } from '../config/types.ts';
import { MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { createStorage, type ClosableStorage } from '../storage/index.ts';
import { reportStorageState } from '../storage/availability.ts';
import { storageSpecFor } from './setup.ts';

export interface StackOptions {
  readonly log: Logger;
  /** Sent to ACME servers (RFC 8555 §6.1). */
  readonly userAgent?: string;
  /** Extra options for every SecureContext the manager makes. */
  readonly contextOptions?: tls.SecureContextOptions;
  /** The manager's on-demand hooks (run only). */
  readonly onDemand?: CertificateManagerOptions['onDemand'];
}

/** The global options every ACME issuer and account of a config is built from, besides the site's choice. */
export interface AcmeSettings {
  readonly eab?: GlobalOptions['acmeEab'];
  readonly profile?: string;
  readonly lifetimeMs?: number;
  readonly preferredChains?: GlobalOptions['preferredChains'];
  /** PEM trusted for the ACME server's own HTTPS (the content of `acme_ca_root`). */
  readonly caRoots?: string;
}

export function acmeSettingsFor(globals: GlobalOptions, caRoots: string | undefined): AcmeSettings {
  return {
    ...(globals.acmeEab !== undefined ? { eab: globals.acmeEab } : {}),
    ...(globals.acmeProfile !== undefined ? { profile: globals.acmeProfile } : {}),
    ...(globals.certLifetimeMs !== undefined ? { lifetimeMs: globals.certLifetimeMs } : {}),
    ...(globals.preferredChains !== undefined ? { preferredChains: globals.preferredChains } : {}),
    ...(caRoots !== undefined ? { caRoots } : {}),
  };
}

/**
 * One storage and the state kept in it. Built whole, so a reload that changes `storage` can swap
 * one stack for another. stop() aborts account setups and the manager's issuances in flight and
 * waits for them; close() stops, then closes the storage.
 */
export class Stack {
  readonly storage: ClosableStorage;
  readonly store: CertificateStore;
  readonly http01: Http01Solver;
  readonly tlsAlpn01: TlsAlpn01Solver;
  /** Every challenge type this process answers, for ACME issuers. */
  readonly solvers: ReadonlyMap<string, Solver>;
  readonly local: LocalIssuer;
  readonly manager: CertificateManager;
  readonly #o: StackOptions;
  /** Aborted by stop(): account setups in flight (shared by issuances, so not theirs to abort). */
  readonly #abort = new AbortController();
  #stopped: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  /** Ends this storage's turn as the one GET /health reports. */
  readonly #unreport: () => void;

  private constructor(storage: ClosableStorage, kind: 'file' | 'redis', options: StackOptions) {
    this.#o = options;
    this.storage = storage;
    const opened = new Date();
    this.#unreport = reportStorageState(() => storage.state?.() ?? { kind, state: 'up', since: opened });
    this.store = new CertificateStore(storage);
    const challenges = new ChallengeStore({ storage });
    this.http01 = new Http01Solver({ store: challenges });
    this.tlsAlpn01 = new TlsAlpn01Solver({ store: challenges });
    this.solvers = new Map<string, Solver>([
      ['tls-alpn-01', this.tlsAlpn01],
      ['http-01', this.http01],
    ]);
    this.local = new LocalIssuer({ storage, log: options.log.child({ logger: 'local-ca' }) });
    this.manager = new CertificateManager({
      storage,
      store: this.store,
      log: options.log.child({ logger: 'certs' }),
      ...(options.contextOptions !== undefined ? { contextOptions: options.contextOptions } : {}),
      ...(options.onDemand !== undefined ? { onDemand: options.onDemand } : {}),
    });
  }

  /** Opens the storage the globals name (MY_SERVER_STORAGE overrides it); rejects when it cannot. */
  static async open(globals: GlobalOptions, options: StackOptions): Promise<Stack> {
    const spec = storageSpecFor(globals);
    const storage = await createStorage(spec, { log: options.log.child({ logger: 'storage' }) });
    return new Stack(storage, spec.kind, options);
  }

  /**
   * The issuers of one set of ACME settings over this stack. A reload that changes the settings
   * asks for a new set (plan.ts decides); one that does not keeps the set, and with it its issuers
   * and account clients.
   */
  issuers(settings: AcmeSettings): Issuers {
    return new Issuers(this, settings, this.#o, this.#abort.signal);
  }

  /** No more issuance: what is in flight is aborted and awaited. Idempotent. */
  stop(): Promise<void> {
    this.#abort.abort(new MyServerError('MS_ERR_ABORTED', 'storage stack closed'));
    this.#stopped ??= this.manager.close();
    return this.#stopped;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#unreport();
      await this.stop();
      await this.storage.close();
    })();
    return this.#closed;
  }

  toString(): string {
    return this.storage.toString();
  }
}

/** Issuers made from one stack and one set of ACME settings: one per distinct IssuerChoice. */
export class Issuers {
  readonly #stack: Stack;
  readonly #settings: AcmeSettings;
  readonly #o: StackOptions;
  readonly #acme = new Map<string, AcmeIssuer>();
  /** Account clients by CA and email: issuers that differ only in challenges share one. */
  readonly #accounts = new Map<string, Promise<AcmeClient>>();
  readonly #signal: AbortSignal;

  constructor(stack: Stack, settings: AcmeSettings, options: StackOptions, signal: AbortSignal) {
    this.#stack = stack;
    this.#settings = settings;
    this.#o = options;
    this.#signal = signal;
  }

  get local(): LocalIssuer {
    return this.#stack.local;
  }

  for(choice: IssuerChoice): Issuer {
    if (choice.kind === 'internal') return this.#stack.local;
    const key = JSON.stringify([choice.ca, choice.email, choice.challenges, choice.profile, choice.eab, choice.preferredChains, dnsSettingsKey(choice.dns)]);
    let issuer = this.#acme.get(key);
    if (!issuer) {
      const s = this.#settings;
      // A site's own issuer settings (tls { issuer acme { … } }) over the global ones.
      const profile = choice.profile ?? s.profile;
      const chains = choice.preferredChains ?? s.preferredChains;
      // acme/flow.ts picks an alternate chain by one root name: the first root_common_name is applied.
      const preferredChain = chains?.kind === 'root_common_name' ? chains.names[0] : undefined;
      issuer = new AcmeIssuer({
        client: () => this.#account(choice.ca, choice.email, choice.eab ?? s.eab),
        directoryUrl: choice.ca,
        solvers: choice.dns === undefined ? this.#stack.solvers : withDns01(this.#stack.solvers, choice.dns, { storage: this.#stack.storage, log: this.#o.log }),
        log: this.#o.log.child({ logger: 'acme' }),
        ...(choice.challenges !== undefined ? { challengeTypes: choice.challenges } : {}),
        ...(profile !== undefined ? { profile } : {}),
        ...(preferredChain !== undefined ? { preferredChain } : {}),
        ...(s.lifetimeMs !== undefined ? { lifetimeMs: s.lifetimeMs } : {}),
      });
      this.#acme.set(key, issuer);
    }
    return issuer;
  }

  #account(ca: string, email: string | undefined, eab: AcmeSettings['eab']): Promise<AcmeClient> {
    const key = `${ca}\n${email ?? ''}\n${eab?.keyId ?? ''}`;
    let p = this.#accounts.get(key);
    if (!p) {
      const s = this.#settings;
      p = loadOrCreateAccount({
        directoryUrl: ca,
        storage: this.#stack.storage,
        log: this.#o.log.child({ logger: 'acme' }),
        signal: this.#signal,
        ...(email !== undefined ? { email } : {}),
        ...(s.caRoots !== undefined ? { caRoots: s.caRoots } : {}),
        ...(eab !== undefined ? { eab } : {}),
        ...(this.#o.userAgent !== undefined ? { userAgent: this.#o.userAgent } : {}),
      });
      // A failed account setup is retried at the next issuance, not cached for ever.
      p.catch(() => this.#accounts.delete(key));
      this.#accounts.set(key, p);
    }
    return p;
  }
}
