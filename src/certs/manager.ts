import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import { describeError, MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { isStorageUnavailable } from '../storage/availability.ts';
import { SingleFlight } from '../util/single-flight.ts';
import { wildcardOf } from '../util/host.ts';
import { publish } from '../diagnostics.ts';
import { AriRefresh } from './ari-refresh.ts';
import type { CertificateStore, StoredCertificate } from './certificate-store.ts';
import { systemClock, type Clock } from './clock.ts';
import { warnOnClockSkew } from './clock-skew.ts';
import { ContextCache } from './context-cache.ts';
import type { Entry, NamePolicy } from './entry.ts';
import { liftParks } from './holds.ts';
import { CertificateLifecycle, type CertificateStatus } from './lifecycle.ts';
import { certificateKeys, CERTIFICATES_ROOT } from './keys.ts';
import { needsRenewal } from './meta.ts';
import { normalizeName } from './names.ts';
import { onDemandRefusal } from './on-demand.ts';
import { OnDemandFailures } from './on-demand-failures.ts';
import { obtainCertificate } from './obtain.ts';
import { RenewalSchedule } from './renewal-schedule.ts';

export type { Clock } from './clock.ts';
export type { NamePolicy } from './entry.ts';
export { hasRenewalInfo, type RenewalInfoSource } from './ari-refresh.ts';

export interface CertificateManagerOptions {
  readonly storage: Storage;
  readonly store: CertificateStore;
  readonly log: Logger;
  /**
   * For names not configured explicitly: the policy of the on-demand site covering it, if any, and
   * the permission check (ask, rate limit) that must pass before an order. Functions, so a reload
   * can change both.
   */
  readonly onDemand?: {
    readonly covers: (name: string) => NamePolicy | undefined;
    readonly authorize: (name: string) => Promise<void>;
  };
  /** How long a handshake waits for a certificate being obtained before it fails. */
  readonly handshakeWaitMs?: number;
  /** How often storage is checked for certificates renewed by another process. */
  readonly storageCheckMs?: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly cacheMax?: number;
  /** How many certificates keep a built SecureContext; default DEFAULT_HOT_CONTEXTS (context-cache.ts). */
  readonly hotContexts?: number;
  /** Extra options for every SecureContext (ciphers, minVersion...). */
  readonly contextOptions?: tls.SecureContextOptions;
  /**
   * Time and timers of the renewal schedule: renewals, their retries and renewal-information
   * checks. The storage check and a handshake's wait run on real time. Default: the system's.
   */
  readonly clock?: Clock;
}

/**
 * 25 s: Pebble and Let's Encrypt issue in seconds; a browser gives up on a silent handshake soon
 * after; and it must stay below the listener's TLS handshake timeout (30 s, util/timeouts.ts).
 */
const DEFAULT_HANDSHAKE_WAIT_MS = 25_000;
/** Another instance sharing the store renews too; a minute is soon enough to pick that up. */
const DEFAULT_STORAGE_CHECK_MS = 60_000;

/**
 * "Have a valid SecureContext for every name, in time."
 *
 * Lookup order of `secureContextFor(servername)`: the name normalised (lower case, no trailing
 * dot); a managed entry for the exact name; a managed entry for its wildcard (`*.parent`); an
 * on-demand entry in the LRU cache; storage; finally, for names an on-demand site covers and the
 * policy allows, a new certificate. Concurrent lookups of one new name share one issuance (and the
 * storage lock in obtainCertificate makes that one order across processes too). Resolves to
 * undefined when the name is not ours, or when its certificate cannot be had in time.
 *
 * A renewal keeps the old certificate serving until the new one is stored and loaded.
 *
 * This file keeps that lookup/obtain/install flow and the wiring; when to renew and the order cap
 * are renewal-schedule.ts's, renewal information (RFC 9773) ari-refresh.ts's, the on-demand
 * failure cache on-demand-failures.ts's, the clock-skew warning clock-skew.ts's.
 */
export class CertificateManager {
  readonly #o: CertificateManagerOptions;
  readonly #managed = new Map<string, Entry>();
  readonly #onDemand: LRUCache<string, Entry>;
  /** Built SecureContexts, bounded; an entry keeps only its PEMs (entry.cert). */
  readonly #contexts: ContextCache;
  readonly #flight = new SingleFlight<Entry>();
  readonly #failed: OnDemandFailures;
  readonly #renewals: RenewalSchedule;
  readonly #ari: AriRefresh;
  readonly #lifecycle: CertificateLifecycle;
  /** Parks lifted in storage by the last manage() (start, reload); issuance waits for it. */
  #parksLifted: Promise<void> = Promise.resolve();
  #storageTimer: NodeJS.Timeout | undefined;
  /** Ends the subscription to changes other instances publish (storages with a channel only). */
  #unwatch: (() => void) | undefined;
  /** Ends the subscription to the storage's state (storages that can tell only). */
  #unwatchState: (() => void) | undefined;
  /** Entries whose last attempt failed because storage was unreachable: retried when it is back. */
  readonly #awaitingStorage = new Set<Entry>();
  #closed = false;
  readonly #clock: Clock;
  /** Aborted by close(): stops issuance, renewal-information requests and lock waits in flight. */
  readonly #abort = new AbortController();
  /** Issuances running now, which close() aborts and waits for. */
  readonly #issuing = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;
  /**
   * Renewals and renewal information for configured names. Off in the followers of `workers N`
   * (cluster/): the leader renews, they load what it stored. On-demand names are renewed by the
   * worker serving them either way, under the storage lock.
   */
  #maintain = true;

  constructor(options: CertificateManagerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    const { log, storage, store } = options;
    const signal = this.#abort.signal;
    this.#contexts = new ContextCache({ max: options.hotContexts, contextOptions: options.contextOptions });
    this.#onDemand = new LRUCache<string, Entry>({
      max: options.cacheMax ?? 10_000,
      dispose: (entry) => this.#stop(entry),
    });
    this.#lifecycle = new CertificateLifecycle({ storage, log, clock: this.#clock, signal });
    this.#renewals = new RenewalSchedule({
      clock: this.#lifecycle.scheduleClock(this.#clock),
      log,
      signal,
      ensure: (entry) =>
        this.#maintain || !entry.managed
          ? this.#lifecycle.track(
              entry,
              this.#ensure(entry).catch((err: unknown) => {
                if (isStorageUnavailable(err)) this.#awaitingStorage.add(entry);
                throw err;
              }),
            )
          : this.#reloadFromStorage(entry, true),
      ...(options.retryBaseMs !== undefined ? { retryBaseMs: options.retryBaseMs } : {}),
      ...(options.retryMaxMs !== undefined ? { retryMaxMs: options.retryMaxMs } : {}),
    });
    this.#failed = new OnDemandFailures(this.#clock, (failures) => this.#renewals.retryDelay(failures));
    this.#ari = new AriRefresh({
      storage,
      store,
      log,
      clock: this.#clock,
      signal,
      updated: (entry, meta) => {
        // Issuance backoff keeps its own timer (RFC 9773 §4.2: "renewal attempts are subject to the
        // client's existing error backoff"), as does an issuance in flight.
        if (entry.failures === 0 && !this.#flight.has(`m:${entry.name}`)) this.#renewals.scheduleRenewal(entry, meta);
      },
    });
    // Unsubscribed when close() aborts.
    warnOnClockSkew(log, signal);
    // A certificate another instance stored is served within moments, not at the next poll.
    this.#unwatch = storage.onChange?.((key) => this.#storageChanged(key));
    this.#unwatchState = storage.onStateChange?.((state) => {
      if (state.state === 'up') this.#storageBack();
    });
  }

  /**
   * Replace the set of managed names (start and every reload). New names are obtained in the
   * background, so serving starts at once; names no longer configured stop being renewed.
   *
   * Certificates are kept per issuer (keys.ts), as Caddy keys them: a name whose issuer changed
   * (another ACME directory, the local CA instead of ACME or back) is served the new issuer's
   * certificate from storage, else one obtained from it in the background, and is renewed with it
   * from then on; the old issuer's certificate serves until then, so the name is never without one.
   * `onDemandCovers`, the next config's on-demand coverage: cached on-demand certificates whose
   * covering site now names another issuer are dropped, so the next handshake for such a name looks
   * it up under the new issuer (storage, else `ask` and an order), as Caddy's does. Dropped rather
   * than all re-ordered at once: an on-demand fleet may hold thousands of names, most never asked for again.
   */
  manage(names: ReadonlyMap<string, NamePolicy>, onDemandCovers?: (name: string) => NamePolicy | undefined): void {
    // A start or reload is when a person may have fixed what made the CA refuse a name for good
    // (a CAA record, the config): parks end, here and in storage. The CA's own waits stay.
    this.#parksLifted = liftParks(this.#o.storage).then(
      (n) => {
        if (n > 0) this.#o.log.info({ lifted: n }, 'lifted parked certificate names (start or reload)');
      },
      (err: unknown) => this.#o.log.warn({ err }, `lifting parked certificate names failed: ${describeError(err)}`),
    );
    this.#failed.liftParks();
    if (onDemandCovers) this.#dropOnDemandOfOtherIssuers(onDemandCovers);
    for (const [name, entry] of this.#managed) {
      if (!names.has(name)) {
        this.#stop(entry);
        this.#managed.delete(name);
      }
    }
    for (const [name, policy] of names) {
      const existing = this.#managed.get(name);
      if (existing) {
        const switched = existing.policy.issuer.storageKey !== policy.issuer.storageKey;
        existing.policy = policy;
        if (switched) {
          this.#switchIssuer(existing);
          continue;
        }
        if (existing.parked) {
          existing.parked = false;
          this.#renewals.schedule(existing, 0);
        }
        continue;
      }
      const entry: Entry = { name, policy, failures: 0, ariFailures: 0, managed: true };
      this.#managed.set(name, entry);
      this.#renewals.schedule(entry, 0);
    }
    if (!this.#storageTimer && !this.#closed) {
      this.#storageTimer = setInterval(() => void this.#checkStorage(), this.#o.storageCheckMs ?? DEFAULT_STORAGE_CHECK_MS);
      this.#storageTimer.unref();
    }
  }

  /**
   * `entry`'s issuer changed at a reload: its next attempt, now, loads or obtains the certificate of
   * the new issuer (#ensure), while the certificate it holds keeps serving.
   */
  #switchIssuer(entry: Entry): void {
    this.#o.log.info(
      { name: entry.name, issuer: entry.policy.issuer.id, ...(entry.cert ? { serving: entry.cert.keys.cert } : {}) },
      `issuer of ${entry.name} changed: loading its certificate from storage or obtaining one from ${entry.policy.issuer.id}`,
    );
    // Renewal information about the old issuer's certificate is no business of the new issuer's.
    this.#clock.clearTimer(entry.ariTimer);
    entry.ariTimer = undefined;
    // The old issuer's failures and parks say nothing about the new one.
    entry.failures = 0;
    entry.parked = false;
    this.#renewals.schedule(entry, 0);
  }

  /** Drops cached on-demand entries whose name `covers` now gives to another issuer (see manage). */
  #dropOnDemandOfOtherIssuers(covers: (name: string) => NamePolicy | undefined): void {
    const dropped: string[] = [];
    for (const [name, entry] of this.#onDemand.entries()) {
      const policy = covers(name);
      if (policy !== undefined && policy.issuer.storageKey !== entry.policy.issuer.storageKey) dropped.push(name);
    }
    // Deleted after the walk: the LRU's dispose (#stop) runs on delete.
    for (const name of dropped) this.#onDemand.delete(name);
    if (dropped.length > 0) this.#o.log.info({ count: dropped.length }, 'on-demand certificates of another issuer dropped: looked up under the new issuer at their next handshake');
  }

  /** Whether `entry` holds no certificate, or one stored under its current issuer. */
  #fromCurrentIssuer(entry: Entry): boolean {
    return entry.cert === undefined || entry.cert.keys.cert === certificateKeys(entry.policy.issuer.storageKey, entry.name).cert;
  }

  /** Turns maintenance on (a worker became the leader: renew what is due now) or off. */
  setMaintenance(on: boolean): void {
    const was = this.#maintain;
    this.#maintain = on;
    if (!on || was || this.#closed) return;
    for (const entry of this.#managed.values()) {
      this.#renewals.schedule(entry, 0);
      if (entry.cert) this.#ari.follow(entry);
    }
  }

  /**
   * Another process stored certificates for `names` (a worker's push, cluster/): load them now,
   * including names this process has no certificate for yet.
   */
  reloadNames(names: readonly string[]): void {
    if (this.#closed) return;
    const wanted = new Set(names);
    for (const entry of [...this.#managed.values(), ...this.#onDemand.values()]) {
      if (wanted.has(entry.name)) void this.#reloadFromStorage(entry, true);
    }
  }

  async secureContextFor(servername: string): Promise<tls.SecureContext | undefined> {
    const name = normalizeName(servername);
    if (name === undefined) return undefined;
    const managed = this.#managed.get(name) ?? this.#managed.get(wildcardOf(name) ?? '');
    if (managed) {
      if (managed.cert) return this.#contexts.contextFor(managed.name, managed.cert);
      // After a failure the backoff timer owns the next attempt: handshakes must not turn a failing
      // CA into a tight loop of orders.
      if (managed.failures > 0 && !this.#flight.has(`m:${managed.name}`)) return undefined;
      return this.#wait(this.#ensure(managed), name);
    }
    const cached = this.#onDemand.get(name);
    if (cached?.cert) {
      if (cached.failures === 0 && cached.cert && needsRenewal(cached.cert.meta, this.#date()) && this.#renewals.orderAllowedAt(cached.name, cached.cert.meta) <= this.#clock.now() && !this.#flight.has(`m:${cached.name}`)) this.#renewals.schedule(cached, 0);
      return this.#contexts.contextFor(cached.name, cached.cert);
    }
    const od = this.#o.onDemand;
    const policy = od?.covers(name);
    if (!od || !policy) return undefined;
    // Before the failure cache, ask and storage: a hostile name costs nothing beyond this check.
    if (onDemandRefusal(name, policy.issuer) !== undefined) return undefined;
    const failed = this.#failed.get(name);
    if (this.#failed.refuses(failed)) return undefined;
    return this.#wait(
      this.#flight.do(`od:${name}`, async () => {
        const entry: Entry = { name, policy, failures: 0, ariFailures: 0, managed: false };
        const stored = await this.#o.store.load(policy.issuer.storageKey, name);
        try {
          if (stored && Date.parse(stored.meta.notAfter) > this.#clock.now()) {
            // Serve what storage has while it is valid; a due renewal runs in the background.
            this.#install(entry, stored);
          } else {
            await od.authorize(name);
            await this.#obtain(entry);
          }
        } catch (err) {
          // Storage down: no backoff, since nothing was asked of the CA and a handshake then fails
          // at once without asking anyone (the storage refuses calls while down); the first
          // handshake after it is back tries again.
          if (!isStorageUnavailable(err)) this.#failed.record(name, err, failed);
          throw err;
        }
        this.#failed.delete(name);
        this.#onDemand.set(name, entry);
        return entry;
      }),
      name,
    );
  }

  /** A context already loaded for `name` (no storage, no issuance): for handshakes that cannot wait. */
  loadedContextFor(name: string): tls.SecureContext | undefined {
    const entry = this.#managed.get(name) ?? this.#onDemand.get(name);
    return entry?.cert ? this.#contexts.contextFor(entry.name, entry.cert) : undefined;
  }

  /** SecureContexts held now (`hot`, never above `max`) and built so far (installs and cold hits). */
  contextCacheStats(): { readonly hot: number; readonly max: number; readonly built: number } {
    return { hot: this.#contexts.size, max: this.#contexts.max, built: this.#contexts.built };
  }

  /** What is loaded now, for the admin API and metrics. */
  certificates(): StoredCertificate[] {
    const out: StoredCertificate[] = [];
    for (const e of [...this.#managed.values(), ...this.#onDemand.values()]) if (e.cert) out.push(e.cert);
    return out;
  }

  /** Per-certificate lifecycle (certs/lifecycle.ts) of every name served, for the admin API and metrics. */
  lifecycle(): CertificateStatus[] {
    return this.#lifecycle.snapshot([...this.#managed.values(), ...this.#onDemand.values()]);
  }

  /**
   * Stops every timer and aborts the issuances in flight (their orders, lock waits and challenge
   * waits honour the signal), then resolves once they have settled. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort(new MyServerError('MS_ERR_ABORTED', 'certificate manager closed'));
    clearInterval(this.#storageTimer);
    this.#unwatch?.();
    this.#unwatchState?.();
    this.#awaitingStorage.clear();
    for (const e of this.#managed.values()) this.#stop(e);
    this.#onDemand.clear();
    this.#contexts.clear();
    await Promise.allSettled(this.#issuing);
    await this.#lifecycle.settled();
  }

  /** No more renewals or checks for `entry` (closed, no longer configured, or evicted). */
  #stop(entry: Entry): void {
    entry.removed = true;
    this.#lifecycle.forget(entry.name);
    if (entry.cert) this.#contexts.forget(entry.name, entry.cert);
    this.#clock.clearTimer(entry.timer);
    this.#clock.clearTimer(entry.ariTimer);
  }

  #date(): Date {
    return new Date(this.#clock.now());
  }

  async #wait(p: Promise<Entry>, name: string): Promise<tls.SecureContext | undefined> {
    const waitMs = this.#o.handshakeWaitMs ?? DEFAULT_HANDSHAKE_WAIT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), waitMs);
      timer.unref();
    });
    try {
      const entry = await Promise.race([p, timeout]);
      if (!entry) this.#o.log.warn({ name, waitMs }, 'handshake gave up waiting for a certificate');
      return entry?.cert ? this.#contexts.contextFor(entry.name, entry.cert) : undefined;
    } catch (err) {
      this.#o.log.warn({ name, err }, `no certificate for ${name}: ${describeError(err)}`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Load or obtain a managed entry's certificate, once at a time. An entry holding another issuer's
   * certificate (its issuer changed at a reload) takes its issuer's stored one if still valid, else
   * obtains one; the held one serves meanwhile.
   */
  async #ensure(entry: Entry): Promise<Entry> {
    // An attempt joined here may have begun with the issuer a reload has since replaced, and ended
    // holding that issuer's certificate: one more attempt then runs with the current issuer. Each
    // round needs another reload during the previous one, so this ends.
    for (;;) {
      await this.#flight.do(`m:${entry.name}`, () => this.#ensureOnce(entry));
      if (entry.removed || this.#fromCurrentIssuer(entry)) return entry;
    }
  }

  async #ensureOnce(entry: Entry): Promise<Entry> {
    await this.#parksLifted;
    if (!entry.cert || !this.#fromCurrentIssuer(entry)) {
      const stored = await this.#o.store.load(entry.policy.issuer.storageKey, entry.name);
      // An expired one is installed only when there is nothing else to serve (then renewed below).
      if (stored && (!entry.cert || Date.parse(stored.meta.notAfter) > this.#clock.now())) this.#install(entry, stored);
    }
    if (!this.#fromCurrentIssuer(entry)) {
      await this.#obtain(entry);
      return entry;
    }
    // Held back by the order cap: the caller's timer comes back when it allows the order.
    if (entry.cert && needsRenewal(entry.cert.meta, this.#date()) && this.#renewals.postponed(entry, entry.cert.meta)) return entry;
    if (!entry.cert || needsRenewal(entry.cert.meta, this.#date())) await this.#obtain(entry);
    return entry;
  }

  async #obtain(entry: Entry): Promise<void> {
    if (this.#closed) throw new MyServerError('MS_ERR_ABORTED', 'certificate manager closed');
    const issuing = obtainCertificate([entry.name], {
      storage: this.#o.storage,
      store: this.#o.store,
      issuer: entry.policy.issuer,
      keyType: entry.policy.keyType,
      log: this.#o.log,
      // What we know may be newer than storage (renewal information whose save is pending or
      // failed): it decides for the certificate we hold; one renewed elsewhere still wins.
      ...(entry.cert && this.#fromCurrentIssuer(entry) ? { known: entry.cert.meta } : {}),
      now: () => this.#date(),
      signal: this.#abort.signal,
    });
    this.#issuing.add(issuing);
    try {
      const cert = await issuing;
      if (cert.meta.serialHex !== entry.cert?.meta.serialHex) this.#renewals.recordOrder(entry.name);
      this.#install(entry, cert);
    } finally {
      this.#issuing.delete(issuing);
    }
  }

  #install(entry: Entry, cert: StoredCertificate): void {
    this.#contexts.install(entry.name, cert);
    entry.cert = cert;
    entry.failures = 0;
    this.#lifecycle.installed(entry);
    publish('my-server:cert:loaded', { name: entry.name, notAfter: new Date(cert.meta.notAfter) });
    // A follower's configured names have no timers: the leader's push and the storage poll bring renewals.
    if (!this.#maintain && entry.managed) return;
    this.#renewals.scheduleRenewal(entry, cert.meta);
    this.#ari.follow(entry);
  }

  /**
   * Storage is reachable again: what failed for want of it runs now instead of at the end of its
   * backoff, and the storage is checked for certificates other instances stored meanwhile (their
   * change messages were lost with the connection).
   */
  #storageBack(): void {
    if (this.#closed) return;
    const waiting = [...this.#awaitingStorage].filter((e) => !e.removed && !e.parked && !this.#flight.has(`m:${e.name}`));
    this.#awaitingStorage.clear();
    if (waiting.length > 0) this.#o.log.info({ names: waiting.map((e) => e.name) }, 'storage is back: retrying certificates that waited for it');
    for (const entry of waiting) this.#renewals.schedule(entry, 0);
    void this.#checkStorage();
  }

  /** Pick up certificates another process renewed (a different serial in storage). */
  async #checkStorage(): Promise<void> {
    for (const entry of [...this.#managed.values(), ...this.#onDemand.values()]) await this.#reloadFromStorage(entry);
  }

  /**
   * A stored key changed (publishChange, here or in another instance): reload the entry it belongs
   * to. Looked up by name, not by a walk of every entry: each instance gets every change, so a walk
   * made a mass issuance on shared storage quadratic (10,000 on-demand names: 10,000 key
   * computations per saved certificate, in every instance). The key's <name> segment (keys.ts) is
   * the name lower-cased with "*" → "wildcard_" and ":" → "_", the only characters of a served
   * name it changes; each candidate is checked against the entry's exact key. A name no candidate
   * finds is still picked up by the storage poll.
   */
  #storageChanged(key: string): void {
    if (this.#closed) return;
    const parts = key.split('/');
    if (parts.length !== 4 || parts[0] !== CERTIFICATES_ROOT || !parts[3]!.endsWith('.json')) return;
    const seg = parts[2]!;
    const wild = seg.startsWith('wildcard_') ? `*${seg.slice('wildcard_'.length)}` : seg;
    const names = new Set([seg, wild, seg.replaceAll('_', ':')]);
    for (const name of names) {
      for (const entry of [this.#managed.get(name), this.#onDemand.peek(name)]) {
        if (entry !== undefined && certificateKeys(entry.policy.issuer.storageKey, entry.name).meta === key) void this.#reloadFromStorage(entry);
      }
    }
  }

  /**
   * Never rejects: a failure is logged and the next check or change tries again. `orMissing`: an
   * entry without a certificate takes a valid stored one too (a follower worker's load).
   */
  async #reloadFromStorage(entry: Entry, orMissing = false): Promise<void> {
    if (this.#flight.has(`m:${entry.name}`)) return;
    // Holding another issuer's certificate (the issuer changed at a reload; in a follower, the
    // leader obtains the new one): any valid one of the current issuer's replaces it.
    if (!entry.cert || !this.#fromCurrentIssuer(entry)) {
      if (!orMissing && entry.cert === undefined) return;
      try {
        const stored = await this.#o.store.load(entry.policy.issuer.storageKey, entry.name);
        if (stored && !entry.removed && !this.#flight.has(`m:${entry.name}`) && (!entry.cert || !this.#fromCurrentIssuer(entry)) && Date.parse(stored.meta.notAfter) > this.#clock.now()) this.#install(entry, stored);
      } catch (err) {
        this.#o.log.warn({ name: entry.name, err }, 'loading a certificate stored elsewhere failed');
      }
      return;
    }
    try {
      // The metadata first: only a changed serial is worth reading and checking the whole entry.
      const meta = await this.#o.store.loadMeta(entry.policy.issuer.storageKey, entry.name);
      if (!meta || meta.serialHex === entry.cert.meta.serialHex) return;
      const stored = await this.#o.store.load(entry.policy.issuer.storageKey, entry.name);
      if (stored && stored.meta.serialHex !== entry.cert.meta.serialHex && stored.meta.notAfter >= entry.cert.meta.notAfter) {
        this.#o.log.info({ name: entry.name, serial: stored.meta.serialHex }, 'loaded a certificate renewed elsewhere');
        this.#install(entry, stored);
      }
    } catch (err) {
      // An unreachable storage is logged once by the storage itself, not once per name.
      if (isStorageUnavailable(err)) this.#o.log.debug({ name: entry.name, err }, 'checking storage for a newer certificate failed');
      else this.#o.log.warn({ name: entry.name, err }, 'checking storage for a newer certificate failed');
    }
  }
}
