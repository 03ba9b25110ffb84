import { findProblem } from '../acme/problem.ts';
import { causeChain, describeError, MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { subscribe, unsubscribe, type Subscriber } from '../diagnostics.ts';
import type { Clock } from './clock.ts';
import type { Entry } from './entry.ts';
import { findRefusal } from './issuer.ts';
import { segment } from './keys.ts';
import { renewalTime, type CertificateMeta } from './meta.ts';

/**
 * The lifecycle of one certificate name as operators see it, in `GET /certificates`, `/metrics`
 * and `my-server certs list`: where it came from, when it renews, and why the last attempt failed.
 * Times are ISO 8601 strings; JSON-ready.
 */
export interface CertificateStatus {
  /** The managed (or on-demand) name. */
  readonly name: string;
  /** Every name of the certificate held, when there is one. */
  readonly names: readonly string[];
  /** The CA: its ACME directory URL, or "local" for the built-in CA (CertificateMeta.issuer). */
  readonly issuer: string;
  /** The issuing certificate's common name; "" before a certificate is held. */
  readonly issuerName: string;
  /** The ACME profile the last order asked for and the CA offered. */
  readonly profile?: string;
  readonly serial?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  /** The CA's renewal window (RFC 9773 ARI), when it offers one. */
  readonly ariWindow?: { readonly start: string; readonly end: string; readonly explanationUrl?: string };
  /** When the certificate held is due for renewal (the time chosen inside the ARI window, else one third of the lifetime left). */
  readonly renewAt?: string;
  /** When the manager tries next: the renewal time, or the retry after a failure. */
  readonly nextAttempt?: string;
  /** The last failed attempt; kept after a later success, so the history of the name shows. */
  readonly lastError?: LastError;
  /** Failed attempts since the last success. */
  readonly consecutiveFailures: number;
  /** The later of the last issuance attempt and the last renewal-information check. */
  readonly lastCheck?: string;
  /** The CA refused the name for good: tried again at a reload, a restart or the park's end. */
  readonly parked?: boolean;
  /** The storage key of the certificate held. */
  readonly storageKey?: string;
}

export interface LastError {
  readonly at: string;
  /** The RFC 8555 problem type (full URN) when the CA answered with one. */
  readonly type?: string;
  /** The CA's detail, as it worded it; else our own description of the failure. */
  readonly detail: string;
  /** The MyServerError code of the failure (MS_ERR_ACME_PROBLEM, MS_ERR_ACME_NETWORK …). */
  readonly code?: string;
}

/**
 * What is kept in storage per name, so that `certs list` (another process, maybe on another
 * machine sharing the storage) shows the failures the running instance saw. The certificate's own
 * facts stay in its CertificateMeta; this holds only what the manager learns by trying.
 *
 *   lifecycle/<issuer>/<name>.json
 */
export interface LifecycleRecord {
  readonly name: string;
  /** The CA's directory URL, or "local". */
  readonly issuer: string;
  readonly profile?: string;
  readonly lastError?: LastError;
  readonly consecutiveFailures: number;
  readonly lastAttempt?: string;
  readonly nextAttempt?: string;
  readonly parked?: boolean;
}

export const LIFECYCLE_ROOT = 'lifecycle';

export function lifecycleKey(issuerStorageKey: string, name: string): string {
  return `${LIFECYCLE_ROOT}/${segment(issuerStorageKey)}/${segment(name)}.json`;
}

export interface LifecycleOptions {
  readonly storage: Storage;
  readonly log: Logger;
  readonly clock: Clock;
  /** Aborted when the manager closes: the event subscription ends. */
  readonly signal: AbortSignal;
}

interface Tracked {
  ca: string;
  storageKey: string;
  profile?: string;
  lastError?: LastError;
  failures: number;
  lastAttempt?: number;
  nextAttempt?: number;
  parked?: boolean;
  /** The record as last written, so an unchanged one is not written again. */
  saved?: string;
}

/**
 * The one owner of per-certificate lifecycle facts. The manager tells it about attempts and
 * installs (CertificateManager wraps the renewal schedule's `ensure` with track()); profiles come
 * from the ACME flow's order-created events; everything about the certificate itself is read from
 * its CertificateMeta when a snapshot is taken. Metrics, the admin API and the CLI only read.
 *
 * Only the renewal schedule's attempts are tracked (every managed name, and renewals of on-demand
 * ones): an on-demand name's first issuance fails inside a handshake and has its own failure cache.
 */
export class CertificateLifecycle {
  readonly #o: LifecycleOptions;
  readonly #names = new Map<string, Tracked>();
  readonly #onOrder: Subscriber;
  /**
   * When each timer of the renewal schedule is due (scheduleClock), so a failure's next attempt is
   * the schedule's own choice (jittered backoff, Retry-After, a park's end), never a second guess.
   * Weak for the system clock's timer objects; test clocks' numeric ids are few.
   */
  readonly #dueObjects = new WeakMap<object, number>();
  readonly #dueIds = new Map<unknown, number>();
  /** Record writes in flight: the manager's close waits for them, so none lands after it. */
  readonly #writes = new Set<Promise<void>>();

  constructor(options: LifecycleOptions) {
    this.#o = options;
    this.#onOrder = (m) => this.#orderCreated(m);
    subscribe('my-server:acme:order-created', this.#onOrder);
    options.signal.addEventListener('abort', () => unsubscribe('my-server:acme:order-created', this.#onOrder), { once: true });
  }

  /** `clock` for the renewal schedule: the same time and timers, each timer's due time noted. */
  scheduleClock(clock: Clock): Clock {
    return {
      now: () => clock.now(),
      clearTimer: (timer) => clock.clearTimer(timer),
      setTimer: (fn, ms) => {
        const timer = clock.setTimer(fn, ms);
        const due = clock.now() + ms;
        if (typeof timer === 'object' && timer !== null) this.#dueObjects.set(timer, due);
        else {
          this.#dueIds.set(timer, due);
          if (this.#dueIds.size > 10_000) this.#dueIds.delete(this.#dueIds.keys().next().value);
        }
        return timer;
      },
    };
  }

  /**
   * Records one attempt of `entry` (the renewal schedule's lookup/obtain/install) and passes its
   * outcome on unchanged. Called before the schedule's own failure handling, so `entry.failures`
   * still counts the earlier failures only.
   */
  track<T>(entry: Entry, attempt: Promise<T>): Promise<T> {
    this.#tracked(entry).lastAttempt = this.#o.clock.now();
    return attempt.then(
      (value) => value,
      (err: unknown) => {
        if (!this.#o.signal.aborted && !entry.removed) this.#failed(entry, err);
        throw err;
      },
    );
  }

  /** `entry` now serves a certificate (from storage or freshly obtained): its failures are over. */
  installed(entry: Entry): void {
    const t = this.#tracked(entry);
    const hadFailures = t.failures > 0;
    t.failures = 0;
    t.parked = false;
    delete t.nextAttempt;
    if (hadFailures) this.#save(entry, t);
  }

  /** Resolves once the record writes in flight have settled; none start once `signal` aborted. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
  }

  /** `name` is no longer served (unconfigured, evicted, closed). */
  forget(name: string): void {
    this.#names.delete(name);
  }

  /** The status of each entry, in the entries' order. */
  snapshot(entries: Iterable<Entry>): CertificateStatus[] {
    const now = this.#o.clock.now();
    const out: CertificateStatus[] = [];
    for (const e of entries) out.push(statusOf(e.name, e.cert?.meta, this.#names.get(e.name) ?? { ca: e.policy.issuer.id, storageKey: e.policy.issuer.storageKey, failures: e.failures }, now, e.cert?.keys.cert));
    return out;
  }

  #tracked(entry: Entry): Tracked {
    let t = this.#names.get(entry.name);
    if (t === undefined || t.ca !== entry.policy.issuer.id) {
      t = { ca: entry.policy.issuer.id, storageKey: entry.policy.issuer.storageKey, failures: 0 };
      this.#names.set(entry.name, t);
    }
    return t;
  }

  #failed(entry: Entry, err: unknown): void {
    const t = this.#tracked(entry);
    const now = this.#o.clock.now();
    const problem = findProblem(err);
    const code = codeOf(err);
    t.lastError = {
      at: new Date(now).toISOString(),
      ...(problem ? { type: problem.type, detail: problem.detail } : { detail: describeError(err) }),
      ...(code !== undefined ? { code } : {}),
    };
    t.failures = entry.failures + 1;
    delete t.nextAttempt;
    t.parked = findRefusal(err)?.holds.some((h) => h.parked) === true;
    // The schedule sets its retry timer right after this handler, in a later microtask: read its
    // due time once every microtask has run, unless another attempt has begun meanwhile.
    const failures = t.failures;
    setImmediate(() => {
      if (this.#o.signal.aborted || this.#names.get(entry.name) !== t || t.failures !== failures) return;
      const timer = entry.timer;
      const due = typeof timer === 'object' && timer !== null ? this.#dueObjects.get(timer) : this.#dueIds.get(timer);
      if (due !== undefined) t.nextAttempt = due;
      this.#save(entry, t);
    });
  }

  #orderCreated(m: unknown): void {
    try {
      if (typeof m !== 'object' || m === null) return;
      const { identifiers, profile } = m as { identifiers?: unknown; profile?: unknown };
      if (typeof profile !== 'string' || !Array.isArray(identifiers)) return;
      for (const id of identifiers as unknown[]) {
        const value = typeof id === 'object' && id !== null ? (id as { value?: unknown }).value : undefined;
        const t = typeof value === 'string' ? this.#names.get(value) : undefined;
        if (t !== undefined) t.profile = profile;
      }
    } catch {
      // A malformed event from another publisher: a subscriber that throws would crash the process.
    }
  }

  /** Best effort: a failed write costs `certs list` its view of the failure, never the renewal. */
  #save(entry: Entry, t: Tracked): void {
    const record: LifecycleRecord = {
      name: entry.name,
      issuer: t.ca,
      ...(t.profile !== undefined ? { profile: t.profile } : {}),
      ...(t.lastError !== undefined ? { lastError: t.lastError } : {}),
      consecutiveFailures: t.failures,
      ...(t.lastAttempt !== undefined ? { lastAttempt: new Date(t.lastAttempt).toISOString() } : {}),
      ...(t.nextAttempt !== undefined ? { nextAttempt: new Date(t.nextAttempt).toISOString() } : {}),
      ...(t.parked === true ? { parked: true } : {}),
    };
    const text = JSON.stringify(record);
    if (text === t.saved || this.#o.signal.aborted) return;
    t.saved = text;
    const write = this.#o.storage.put(lifecycleKey(t.storageKey, entry.name), text).catch((err: unknown) => {
      this.#o.log.debug({ name: entry.name, err }, `recording the lifecycle of ${entry.name} in storage failed: ${describeError(err)}`);
    });
    this.#writes.add(write);
    void write.finally(() => this.#writes.delete(write));
  }
}

/** The innermost MyServerError code of the cause chain: the most specific (a network failure under "obtaining certificate"). */
function codeOf(err: unknown): string | undefined {
  let code: string | undefined;
  for (const cur of causeChain(err)) if (cur instanceof MyServerError) code = cur.code;
  return code;
}

type Known = Pick<Tracked, 'ca' | 'failures'> & Partial<Pick<Tracked, 'profile' | 'lastError' | 'lastAttempt' | 'nextAttempt' | 'parked'>>;

/**
 * One status from a certificate's metadata (absent before one is held) and what the manager
 * learned by trying; `now` for the next attempt of a certificate waiting for its renewal time.
 */
export function statusOf(name: string, meta: CertificateMeta | undefined, known: Known, now: number, storageKey?: string): CertificateStatus {
  const renewAt = meta ? renewalTime(meta).getTime() : undefined;
  const lastAttempt = known.lastAttempt;
  const ariChecked = meta?.ari ? Date.parse(meta.ari.checkedAt) : undefined;
  const lastCheck = Math.max(lastAttempt ?? -Infinity, ariChecked ?? -Infinity);
  // Without a failure, the next attempt is the renewal time (or now, when it is due).
  const next = known.failures > 0 ? known.nextAttempt : renewAt === undefined ? known.nextAttempt : Math.max(renewAt, now);
  return {
    name,
    names: meta?.names ?? [name],
    issuer: meta?.issuer ?? known.ca,
    issuerName: meta?.issuerName ?? '',
    ...(known.profile !== undefined ? { profile: known.profile } : {}),
    ...(meta ? { serial: meta.serialHex, notBefore: meta.notBefore, notAfter: meta.notAfter } : {}),
    ...(meta?.ari ? { ariWindow: { start: meta.ari.start, end: meta.ari.end, ...(meta.ari.explanationUrl !== undefined ? { explanationUrl: meta.ari.explanationUrl } : {}) } } : {}),
    ...(renewAt !== undefined ? { renewAt: new Date(renewAt).toISOString() } : {}),
    ...(next !== undefined ? { nextAttempt: new Date(next).toISOString() } : {}),
    ...(known.lastError !== undefined ? { lastError: known.lastError } : {}),
    consecutiveFailures: known.failures,
    ...(Number.isFinite(lastCheck) ? { lastCheck: new Date(lastCheck).toISOString() } : {}),
    ...(known.parked === true ? { parked: true } : {}),
    ...(storageKey !== undefined ? { storageKey } : {}),
  };
}

/** A stored record as `statusOf` takes it; undefined for a damaged one. */
export function knownFromRecord(bytes: Buffer): (Known & { readonly name: string }) | undefined {
  try {
    const r = JSON.parse(bytes.toString('utf8')) as Partial<LifecycleRecord>;
    if (typeof r.name !== 'string' || typeof r.issuer !== 'string') return undefined;
    const time = (s: unknown): number | undefined => (typeof s === 'string' && !Number.isNaN(Date.parse(s)) ? Date.parse(s) : undefined);
    const lastAttempt = time(r.lastAttempt);
    const nextAttempt = time(r.nextAttempt);
    return {
      name: r.name,
      ca: r.issuer,
      failures: typeof r.consecutiveFailures === 'number' ? r.consecutiveFailures : 0,
      ...(typeof r.profile === 'string' ? { profile: r.profile } : {}),
      ...(r.lastError !== undefined && typeof r.lastError.detail === 'string' ? { lastError: r.lastError } : {}),
      ...(lastAttempt !== undefined ? { lastAttempt } : {}),
      ...(nextAttempt !== undefined ? { nextAttempt } : {}),
      ...(r.parked === true ? { parked: true } : {}),
    };
  } catch {
    return undefined;
  }
}
