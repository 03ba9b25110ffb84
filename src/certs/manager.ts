import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import { describeError, MyServerError } from '../errors.ts';
import { findProblem } from '../acme/problem.ts';
import { RENEWAL_INFO_MAX_CHECK_MS, RENEWAL_INFO_MIN_CHECK_MS, RENEWAL_INFO_DEFAULT_CHECK_MS, renewalInfoCheckDelay, renewalInfoRetryDelay } from '../acme/ari.ts';
import type { RenewalInfo } from '../acme/types.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import type { KeyType } from '../x509/keys.ts';
import { backoffDelay, MAX_TIMER_MS } from '../util/backoff.ts';
import { SingleFlight } from '../util/single-flight.ts';
import { wildcardOf } from '../util/host.ts';
import type { CertificateStore, StoredCertificate } from './certificate-store.ts';
import { liftParks } from './holds.ts';
import { findRefusal, type Issuer } from './issuer.ts';
import { issueLockName } from './keys.ts';
import { ariWindowMoved, needsRenewal, renewalTime, updatedAri, type CertificateMeta } from './meta.ts';
import { normalizeName } from './names.ts';
import { onDemandRefusal } from './on-demand.ts';
import { obtainCertificate } from './obtain.ts';
import { publish, subscribe, unsubscribe, type Events } from '../diagnostics.ts';

type ClockSkew = Events['my-server:acme:clock-skew'];

/**
 * An optional issuer ability (RFC 9773): the CA's current renewal information for a certificate it
 * issued. Resolves to undefined when the CA offers none for it; rejects when asking failed (with
 * an AcmeProblem when the CA answered with one). Must honour `signal`.
 */
export interface RenewalInfoSource {
  renewalInfo(chainPem: string, options?: { readonly signal?: AbortSignal }): Promise<RenewalInfo | undefined>;
}

export function hasRenewalInfo(issuer: Issuer): issuer is Issuer & RenewalInfoSource {
  return typeof (issuer as Partial<RenewalInfoSource>).renewalInfo === 'function';
}

/**
 * The manager's time and timers, injectable so tests can step through days of renewal schedule.
 * Timers must not keep the process alive; `clearTimer` of an unknown or fired timer is a no-op.
 */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.min(ms, MAX_TIMER_MS)).unref(),
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/** How a name gets its certificate. */
export interface NamePolicy {
  readonly issuer: Issuer;
  readonly keyType: KeyType;
}

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
  /** Extra options for every SecureContext (ciphers, minVersion...). */
  readonly contextOptions?: tls.SecureContextOptions;
  /**
   * Time and timers of the renewal schedule: renewals, their retries and renewal-information
   * checks. The storage check and a handshake's wait run on real time. Default: the system's.
   */
  readonly clock?: Clock;
}

interface Entry {
  readonly name: string;
  policy: NamePolicy;
  cert?: StoredCertificate;
  context?: tls.SecureContext;
  /** The next renewal attempt (or its retry). */
  timer?: unknown;
  failures: number;
  /** The next renewal-information check (RFC 9773), for issuers that offer it. */
  ariTimer?: unknown;
  /** Renewal-information fetches failed in a row. */
  ariFailures: number;
  /** Managed names stay; on-demand ones live in the LRU only. */
  readonly managed: boolean;
  /** No longer configured (or evicted): never scheduled again. */
  removed?: boolean;
  /** The CA refused the name for good (certs/holds.ts): retried at a reload, a restart or the park's end. */
  parked?: boolean;
}

/**
 * 25 s: Pebble and Let's Encrypt issue in seconds; a browser gives up on a silent handshake soon
 * after; and it must stay below the listener's TLS handshake timeout (30 s, util/timeouts.ts).
 */
const DEFAULT_HANDSHAKE_WAIT_MS = 25_000;
/** How long a name the on-demand policy refused is refused without asking again. */
const ON_DEMAND_REFUSAL_CACHE_MS = 10_000;
/**
 * The least time between two issuances for one name (or a tenth of the lifetime, for short-lived
 * certificates), so a certificate that is due the moment it arrives cannot cause a loop. Mostly
 * meta.ts's MIN_AGE_SHARE holds renewals back much longer; this is the floor left when the CA
 * asks for a renewal (an ARI window moved earlier), which lifts that one.
 */
const MIN_RENEWAL_INTERVAL_MS = 60_000;
/**
 * At most this many certificates for one name within ORDER_WINDOW_MS, unless the CA asks for more
 * (an ARI window moved earlier). Let's Encrypt allows 5 duplicate certificates a week; a loop
 * (a skewed clock, a CA returning certificates already due) must stop well before that.
 */
const MAX_ORDERS_PER_WINDOW = 3;
const ORDER_WINDOW_MS = 24 * 3600_000;
/** A clock-skew warning is repeated at most this often (the CA's every response reports it). */
const CLOCK_SKEW_WARN_INTERVAL_MS = 3600_000;
/** How soon a renewal timer that fired before its time is tried again. */
const EARLY_TIMER_RETRY_MS = 1_000;
/** Another instance sharing the store renews too; a minute is soon enough to pick that up. */
const DEFAULT_STORAGE_CHECK_MS = 60_000;
/**
 * How long storage's lock is awaited to record new renewal information; an issuance holds it for
 * longer only in trouble, and then its new certificate makes the information moot anyway.
 */
const RENEWAL_INFO_SAVE_LOCK_WAIT_MS = 60_000;
/** Failed issuance retries after 30 s, 1 min, 2 min ... up to 6 h: never a tight loop, never given up. */
const DEFAULT_RETRY_BASE_MS = 30_000;
const DEFAULT_RETRY_MAX_MS = 6 * 3600_000;

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
 */
export class CertificateManager {
  readonly #o: CertificateManagerOptions;
  readonly #managed = new Map<string, Entry>();
  readonly #onDemand: LRUCache<string, Entry>;
  readonly #flight = new SingleFlight<Entry>();
  /**
   * On-demand names that just failed (refused by the policy, or issuance failed): handshakes for
   * them fail at once until `until`, so neither the ask endpoint nor the CA sees one request per
   * handshake.
   */
  readonly #failed = new LRUCache<string, { until: number; failures: number; parked?: boolean }>({ max: 10_000 });
  /** Parks lifted in storage by the last manage() (start, reload); issuance waits for it. */
  #parksLifted: Promise<void> = Promise.resolve();
  #storageTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #clock: Clock;
  /** Aborted by close(): stops issuance, renewal-information requests and lock waits in flight. */
  readonly #abort = new AbortController();
  /**
   * Clock times at which each name got a new certificate, within ORDER_WINDOW_MS. Kept in memory
   * only: after a restart the stored certificate is young, and MIN_AGE_SHARE keeps it.
   */
  readonly #orders = new LRUCache<string, number[]>({ max: 10_000 });
  #skewWarnedAt = -Infinity;
  /** Issuances running now, which close() aborts and waits for. */
  readonly #issuing = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  constructor(options: CertificateManagerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#onDemand = new LRUCache<string, Entry>({
      max: options.cacheMax ?? 10_000,
      dispose: (entry) => this.#stop(entry),
    });
    // The ACME client reports a CA whose Date header disagrees with our clock; renewal times are
    // only as right as the clock, so it is said loudly. Unsubscribed when close() aborts.
    const onSkew = (message: unknown): void => this.#warnClockSkew(message as ClockSkew);
    subscribe('my-server:acme:clock-skew', onSkew);
    this.#abort.signal.addEventListener('abort', () => unsubscribe('my-server:acme:clock-skew', onSkew), { once: true });
  }

  /**
   * Replace the set of managed names (start and every reload). New names are obtained in the
   * background, so serving starts at once; names no longer configured stop being renewed.
   */
  manage(names: ReadonlyMap<string, NamePolicy>): void {
    // A start or reload is when a person may have fixed what made the CA refuse a name for good
    // (a CAA record, the config): parks end, here and in storage. The CA's own waits stay.
    this.#parksLifted = liftParks(this.#o.storage).then(
      (n) => {
        if (n > 0) this.#o.log.info({ lifted: n }, 'lifted parked certificate names (start or reload)');
      },
      (err: unknown) => this.#o.log.warn({ err }, `lifting parked certificate names failed: ${describeError(err)}`),
    );
    for (const name of [...this.#failed.keys()]) if (this.#failed.peek(name)?.parked) this.#failed.delete(name);
    for (const [name, entry] of this.#managed) {
      if (!names.has(name)) {
        this.#stop(entry);
        this.#managed.delete(name);
      }
    }
    for (const [name, policy] of names) {
      const existing = this.#managed.get(name);
      if (existing) {
        existing.policy = policy;
        if (existing.parked) {
          existing.parked = false;
          this.#schedule(existing, 0);
        }
        continue;
      }
      const entry: Entry = { name, policy, failures: 0, ariFailures: 0, managed: true };
      this.#managed.set(name, entry);
      this.#schedule(entry, 0);
    }
    if (!this.#storageTimer && !this.#closed) {
      this.#storageTimer = setInterval(() => void this.#checkStorage(), this.#o.storageCheckMs ?? DEFAULT_STORAGE_CHECK_MS);
      this.#storageTimer.unref();
    }
  }

  async secureContextFor(servername: string): Promise<tls.SecureContext | undefined> {
    const name = normalizeName(servername);
    if (name === undefined) return undefined;
    const managed = this.#managed.get(name) ?? this.#managed.get(wildcardOf(name) ?? '');
    if (managed) {
      if (managed.context) return managed.context;
      // After a failure the backoff timer owns the next attempt: handshakes must not turn a failing
      // CA into a tight loop of orders.
      if (managed.failures > 0 && !this.#flight.has(`m:${managed.name}`)) return undefined;
      return this.#wait(this.#ensure(managed), name);
    }
    const cached = this.#onDemand.get(name);
    if (cached?.context) {
      if (cached.failures === 0 && cached.cert && needsRenewal(cached.cert.meta, this.#date()) && this.#orderAllowedAt(cached, cached.cert.meta) <= this.#clock.now() && !this.#flight.has(`m:${cached.name}`)) this.#schedule(cached, 0);
      return cached.context;
    }
    const od = this.#o.onDemand;
    const policy = od?.covers(name);
    if (!od || !policy) return undefined;
    // Before the failure cache, ask and storage: a hostile name costs nothing beyond this check.
    if (onDemandRefusal(name, policy.issuer) !== undefined) return undefined;
    const failed = this.#failed.get(name);
    if (failed && failed.until > this.#clock.now()) return undefined;
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
          const failures = (failed?.failures ?? 0) + 1;
          const refused = err instanceof MyServerError && err.code === 'MS_ERR_POLICY';
          // A refusal is asked again soon (the ask endpoint may allow the name later); a failed
          // issuance backs off like managed names do, and never asks before the CA's Retry-After
          // or a park's end (the hold is in storage too, for every other path).
          const hold = findRefusal(err);
          const backoff = refused ? ON_DEMAND_REFUSAL_CACHE_MS : backoffDelay(failures - 1, { baseMs: this.#o.retryBaseMs ?? DEFAULT_RETRY_BASE_MS, maxMs: this.#o.retryMaxMs ?? DEFAULT_RETRY_MAX_MS });
          const now = this.#clock.now();
          const until = Math.max(now + backoff, hold?.until ?? 0, now + (findProblem(err)?.retryAfter ?? 0));
          this.#failed.set(name, { until, failures, ...(hold?.holds.some((h) => h.parked) ? { parked: true } : {}) });
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
    return (this.#managed.get(name) ?? this.#onDemand.get(name))?.context;
  }

  /** What is loaded now, for the admin API and metrics. */
  certificates(): StoredCertificate[] {
    const out: StoredCertificate[] = [];
    for (const e of [...this.#managed.values(), ...this.#onDemand.values()]) if (e.cert) out.push(e.cert);
    return out;
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
    for (const e of this.#managed.values()) this.#stop(e);
    this.#onDemand.clear();
    await Promise.allSettled(this.#issuing);
  }

  /** No more renewals or checks for `entry` (closed, no longer configured, or evicted). */
  #stop(entry: Entry): void {
    entry.removed = true;
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
      return entry?.context;
    } catch (err) {
      this.#o.log.warn({ name, err }, `no certificate for ${name}: ${describeError(err)}`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Load or obtain a managed entry's certificate, once at a time. */
  #ensure(entry: Entry): Promise<Entry> {
    return this.#flight.do(`m:${entry.name}`, async () => {
      await this.#parksLifted;
      if (!entry.cert) {
        const stored = await this.#o.store.load(entry.policy.issuer.storageKey, entry.name);
        if (stored) this.#install(entry, stored);
      }
      if (entry.cert && needsRenewal(entry.cert.meta, this.#date())) {
        const allowedAt = this.#orderAllowedAt(entry, entry.cert.meta);
        if (allowedAt > this.#clock.now()) {
          // The caller's timer comes back at allowedAt (#scheduleRenewal counts it in).
          this.#o.log.warn(
            { name: entry.name, orders: MAX_ORDERS_PER_WINDOW, windowMs: ORDER_WINDOW_MS, retryAt: new Date(allowedAt).toISOString() },
            `renewal of ${entry.name} postponed: ${MAX_ORDERS_PER_WINDOW} certificates in 24 hours already (is the clock right?)`,
          );
          return entry;
        }
      }
      if (!entry.cert || needsRenewal(entry.cert.meta, this.#date())) await this.#obtain(entry);
      return entry;
    });
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
      ...(entry.cert ? { known: entry.cert.meta } : {}),
      now: () => this.#date(),
      signal: this.#abort.signal,
    });
    this.#issuing.add(issuing);
    try {
      const cert = await issuing;
      if (cert.meta.serialHex !== entry.cert?.meta.serialHex) this.#recordOrder(entry.name);
      this.#install(entry, cert);
    } finally {
      this.#issuing.delete(issuing);
    }
  }

  #recordOrder(name: string): void {
    const now = this.#clock.now();
    const recent = (this.#orders.get(name) ?? []).filter((t) => t > now - ORDER_WINDOW_MS);
    recent.push(now);
    this.#orders.set(name, recent.slice(-MAX_ORDERS_PER_WINDOW));
  }

  /**
   * The earliest clock time at which `entry` may be ordered again: now, unless it got
   * MAX_ORDERS_PER_WINDOW certificates within ORDER_WINDOW_MS and the CA did not ask for another
   * (`meta`'s ARI window moved earlier).
   */
  #orderAllowedAt(entry: Entry, meta: CertificateMeta): number {
    const now = this.#clock.now();
    if (meta.ari?.movedEarlierAt !== undefined) return now;
    const recent = (this.#orders.get(entry.name) ?? []).filter((t) => t > now - ORDER_WINDOW_MS);
    const oldest = recent.length >= MAX_ORDERS_PER_WINDOW ? recent[recent.length - MAX_ORDERS_PER_WINDOW] : undefined;
    return oldest === undefined ? now : oldest + ORDER_WINDOW_MS;
  }

  #warnClockSkew(skew: ClockSkew): void {
    const now = Date.now();
    if (now - this.#skewWarnedAt < CLOCK_SKEW_WARN_INTERVAL_MS) return;
    this.#skewWarnedAt = now;
    const off = Math.abs(skew.skewMs);
    const amount = off >= 2 * 86_400_000 ? `${(off / 86_400_000).toFixed(1)} days` : off >= 2 * 3600_000 ? `${(off / 3600_000).toFixed(1)} hours` : `${Math.round(off / 60_000)} minutes`;
    this.#o.log.warn(
      { url: skew.url, skewMs: skew.skewMs, caDate: skew.caDate },
      `clock skew: this host's clock is ${amount} ${skew.skewMs > 0 ? 'ahead of' : 'behind'} the CA's (${skew.url}); certificate times and renewals are judged by it, fix the clock (NTP)`,
    );
  }

  #install(entry: Entry, cert: StoredCertificate): void {
    entry.context = tls.createSecureContext({ ...this.#o.contextOptions, key: cert.keyPem, cert: cert.chainPem });
    entry.cert = cert;
    entry.failures = 0;
    publish('my-server:cert:loaded', { name: entry.name, notAfter: new Date(cert.meta.notAfter) });
    this.#scheduleRenewal(entry, cert.meta);
    // A new certificate: the old one's checks end (RFC 9773 §4.3, not after it is replaced).
    entry.ariFailures = 0;
    this.#scheduleRenewalInfo(entry, this.#renewalInfoDelay(cert.meta));
  }

  /** Schedule the renewal at the time `meta` says (ARI's choice, else the lifetime rule). */
  #scheduleRenewal(entry: Entry, meta: CertificateMeta, minDelayMs = 0): void {
    const now = this.#clock.now();
    const sinceObtained = now - Date.parse(meta.obtainedAt);
    const lifetime = Date.parse(meta.notAfter) - Date.parse(meta.notBefore);
    const minInterval = Math.min(MIN_RENEWAL_INTERVAL_MS, lifetime / 10);
    this.#schedule(entry, Math.max(minDelayMs, renewalTime(meta).getTime() - now, minInterval - sinceObtained, this.#orderAllowedAt(entry, meta) - now));
  }

  /** Run #ensure for `entry` after `delayMs`; on failure retry with backoff. */
  #schedule(entry: Entry, delayMs: number): void {
    if (this.#closed || entry.removed) return;
    this.#clock.clearTimer(entry.timer);
    entry.timer = this.#clock.setTimer(() => {
      if (delayMs >= MAX_TIMER_MS) {
        this.#schedule(entry, delayMs - MAX_TIMER_MS);
        return;
      }
      const before = entry.cert;
      this.#ensure(entry).then(() => {
        // A timer may fire a little before the wall-clock time it was set for (timers run on a
        // monotonic clock): #ensure then finds nothing due yet and installs nothing, and without
        // this the renewal would never be scheduled again. Not sooner than a second: no spin.
        if (entry.cert !== undefined && entry.cert === before) this.#scheduleRenewal(entry, entry.cert.meta, EARLY_TIMER_RETRY_MS);
      }, (err: unknown) => {
        // Aborted by close(): not a failure of the CA's, and nothing is scheduled any more.
        if (this.#closed) return;
        const backoff = backoffDelay(entry.failures++, {
          baseMs: this.#o.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
          maxMs: this.#o.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
        });
        // A CA that says when to come back (rateLimited, 503 with Retry-After) is believed, and so
        // is one that will never issue for the name (parked until a reload, a restart or the
        // park's end: see certs/holds.ts).
        const hold = findRefusal(err);
        const problem = findProblem(err);
        const retryMs = Math.max(backoff, problem?.retryAfter ?? 0, (hold?.until ?? 0) - this.#clock.now());
        entry.parked = hold?.holds.some((h) => h.parked) === true;
        this.#o.log.error(
          {
            name: entry.name,
            err,
            ...(problem ? { problem: { type: problem.type, detail: problem.detail, status: problem.status } } : {}),
            ...(entry.parked ? { parked: true } : {}),
            retryInMs: retryMs,
            failures: entry.failures,
          },
          `obtaining certificate for ${entry.name} failed${entry.parked ? ' (parked)' : ''}: ${describeError(err)}`,
        );
        this.#schedule(entry, retryMs);
      });
    }, Math.min(delayMs, MAX_TIMER_MS));
  }

  /**
   * When to ask for renewal information about a certificate with `meta`: at the stored nextCheck
   * (already clamped when it was stored; clamped again here against a clock that jumped), or one
   * minute after install when there is no answer yet (the issuance's own request failed).
   */
  #renewalInfoDelay(meta: CertificateMeta): number {
    if (!meta.ari) return RENEWAL_INFO_MIN_CHECK_MS;
    const next = meta.ari.nextCheck !== undefined ? Date.parse(meta.ari.nextCheck) : Date.parse(meta.ari.checkedAt) + RENEWAL_INFO_DEFAULT_CHECK_MS;
    if (Number.isNaN(next)) return RENEWAL_INFO_MIN_CHECK_MS;
    return Math.min(RENEWAL_INFO_MAX_CHECK_MS, Math.max(0, next - this.#clock.now()));
  }

  /** Ask the issuing CA for renewal information about `entry`'s certificate after `delayMs`. */
  #scheduleRenewalInfo(entry: Entry, delayMs: number): void {
    this.#clock.clearTimer(entry.ariTimer);
    entry.ariTimer = undefined;
    const cert = entry.cert;
    if (this.#closed || entry.removed || !cert || !this.#asksRenewalInfo(entry, cert)) return;
    entry.ariTimer = this.#clock.setTimer(() => void this.#checkRenewalInfo(entry, cert), delayMs);
  }

  /**
   * Only the CA that issued the certificate is asked, and only while the certificate is valid:
   * "Clients MUST NOT check a certificate's RenewalInfo after the certificate has expired" (RFC
   * 9773 §4.3); the renewal timer deals with an expired one.
   */
  #asksRenewalInfo(entry: Entry, cert: StoredCertificate): boolean {
    return hasRenewalInfo(entry.policy.issuer) && cert.meta.issuer === entry.policy.issuer.id && this.#clock.now() < Date.parse(cert.meta.notAfter);
  }

  /**
   * RFC 9773 §4.3.2: "After an initial fetch of a certificate's RenewalInfo, clients MUST fetch it
   * again as soon as possible after the time indicated in the Retry-After header". The CA may move
   * the window (e.g. ahead of revoking mis-issued certificates); a window or chosen time already
   * past renews at once, within the usual minimum interval and issuance backoff. A failure is
   * logged and asked again later (ari.ts, renewalInfoRetryDelay); it never touches the renewal
   * timer, so the stored window, or else the lifetime rule, still renews in time. Never rejects.
   */
  async #checkRenewalInfo(entry: Entry, cert: StoredCertificate): Promise<void> {
    entry.ariTimer = undefined;
    const issuer = entry.policy.issuer;
    const current = (): boolean => !this.#closed && !entry.removed && entry.cert === cert;
    if (!current() || !hasRenewalInfo(issuer) || !this.#asksRenewalInfo(entry, cert)) return;
    let info: RenewalInfo | undefined;
    try {
      info = await issuer.renewalInfo(cert.chainPem, { signal: this.#abort.signal });
    } catch (err) {
      if (!current()) return;
      const failures = ++entry.ariFailures;
      const retryInMs = renewalInfoRetryDelay(err, failures);
      const problem = findProblem(err);
      this.#o.log.warn(
        {
          name: entry.name,
          err,
          ...(problem ? { problem: { type: problem.type, detail: problem.detail, status: problem.status } } : {}),
          failures,
          retryInMs,
        },
        `fetching renewal information for ${entry.name} failed: ${describeError(err)}`,
      );
      this.#scheduleRenewalInfo(entry, retryInMs);
      return;
    }
    if (!current()) return;
    entry.ariFailures = 0;
    if (!info) {
      // The CA offers none (now): ask again once a day in case it starts to.
      this.#scheduleRenewalInfo(entry, RENEWAL_INFO_MAX_CHECK_MS);
      return;
    }
    const previous = cert.meta.ari;
    const now = this.#clock.now();
    const ari = updatedAri(previous, info, new Date(now));
    const meta: CertificateMeta = { ...cert.meta, ari };
    const updated: StoredCertificate = { ...cert, meta };
    entry.cert = updated;
    if (ariWindowMoved(previous, ari)) {
      const renewNow = Date.parse(ari.renewAt) <= now;
      this.#o.log.info(
        { name: entry.name, start: ari.start, end: ari.end, renewAt: ari.renewAt, ...(ari.explanationUrl !== undefined ? { explanationUrl: ari.explanationUrl } : {}) },
        previous ? `the CA moved the renewal window of ${entry.name}${renewNow ? '; renewing now' : ''}` : `renewal window of ${entry.name} received`,
      );
    }
    this.#scheduleRenewalInfo(entry, renewalInfoCheckDelay(info.retryAfterMs));
    // Stored before the renewal is scheduled, so a renewal due at once finds it in storage.
    try {
      await this.#saveMeta(entry, updated);
    } catch (err) {
      // Kept in memory all the same, and the renewal does not depend on storage: #obtain passes
      // the loaded metadata, which outweighs the older stored record of the same certificate.
      // Storage catches up at the next check, or with the renewed certificate.
      if (!this.#closed && entry.cert === updated) this.#o.log.warn({ name: entry.name, err }, `storing renewal information for ${entry.name} failed: ${describeError(err)}`);
    }
    // Meanwhile another certificate may have been installed (with its own schedule).
    if (this.#closed || entry.removed || entry.cert !== updated) return;
    // Issuance backoff keeps its own timer (RFC 9773 §4.2: "renewal attempts are subject to the
    // client's existing error backoff"), as does an issuance in flight.
    if (entry.failures === 0 && !this.#flight.has(`m:${entry.name}`)) this.#scheduleRenewal(entry, meta);
  }

  /**
   * Record `cert`'s new metadata in storage, under the name's issuance lock so it never interleaves
   * with a renewal's save; unless storage holds another certificate by now (renewed elsewhere: that
   * one wins, and the storage check loads it).
   */
  async #saveMeta(entry: Entry, cert: StoredCertificate): Promise<void> {
    const storageKey = entry.policy.issuer.storageKey;
    const lock = issueLockName(entry.name);
    await this.#o.storage.lock(lock, { timeoutMs: RENEWAL_INFO_SAVE_LOCK_WAIT_MS, signal: this.#abort.signal });
    try {
      const stored = await this.#o.store.loadMeta(storageKey, entry.name);
      if (stored?.serialHex !== cert.meta.serialHex) return;
      await this.#o.store.save(storageKey, entry.name, { chainPem: cert.chainPem, keyPem: cert.keyPem, meta: cert.meta });
    } finally {
      await this.#o.storage.unlock(lock);
    }
  }

  /** Pick up certificates another process renewed (a different serial in storage). */
  async #checkStorage(): Promise<void> {
    for (const entry of [...this.#managed.values(), ...this.#onDemand.values()]) {
      if (!entry.cert || this.#flight.has(`m:${entry.name}`)) continue;
      try {
        // The metadata first: only a changed serial is worth reading and checking the whole entry.
        const meta = await this.#o.store.loadMeta(entry.policy.issuer.storageKey, entry.name);
        if (!meta || meta.serialHex === entry.cert.meta.serialHex) continue;
        const stored = await this.#o.store.load(entry.policy.issuer.storageKey, entry.name);
        if (stored && stored.meta.serialHex !== entry.cert.meta.serialHex && stored.meta.notAfter >= entry.cert.meta.notAfter) {
          this.#o.log.info({ name: entry.name, serial: stored.meta.serialHex }, 'loaded a certificate renewed elsewhere');
          this.#install(entry, stored);
        }
      } catch (err) {
        this.#o.log.warn({ name: entry.name, err }, 'checking storage for a newer certificate failed');
      }
    }
  }
}
