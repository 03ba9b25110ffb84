import { LRUCache } from 'lru-cache';
import { findProblem } from '../acme/problem.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, MAX_TIMER_MS } from '../util/backoff.ts';
import type { Clock } from './clock.ts';
import type { Entry } from './entry.ts';
import { findRefusal } from './issuer.ts';
import { renewalTime, type CertificateMeta } from './meta.ts';

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
export const MAX_ORDERS_PER_WINDOW = 3;
export const ORDER_WINDOW_MS = 24 * 3600_000;
/** How soon a renewal timer that fired before its time is tried again. */
const EARLY_TIMER_RETRY_MS = 1_000;
/** Failed issuance retries after 30 s, 1 min, 2 min ... up to 6 h: never a tight loop, never given up. */
const DEFAULT_RETRY_BASE_MS = 30_000;
const DEFAULT_RETRY_MAX_MS = 6 * 3600_000;

/**
 * How long from `now` until the certificate with `meta` is renewed: at the time `meta` says (ARI's
 * choice, else the lifetime rule), not before `allowedAt` (the order cap), not within the minimum
 * interval of the certificate's arrival, and not before `minDelayMs`.
 *
 * The minimum interval counts from the later of `obtainedAt` and `lastOrderAt` (when the manager
 * got its last new certificate for the name, on the same clock). `obtainedAt` is stamped before
 * the certificate is stored, so a clock that jumps forward while it is being stored (an NTP step;
 * a test's fake clock) would otherwise make the new certificate due on arrival and order another
 * at once.
 */
export function renewalDelay(meta: CertificateMeta, now: number, o: { readonly allowedAt: number; readonly lastOrderAt?: number; readonly minDelayMs?: number }): number {
  const arrived = Math.max(Date.parse(meta.obtainedAt), o.lastOrderAt ?? -Infinity);
  const lifetime = Date.parse(meta.notAfter) - Date.parse(meta.notBefore);
  const minInterval = Math.min(MIN_RENEWAL_INTERVAL_MS, lifetime / 10);
  return Math.max(o.minDelayMs ?? 0, renewalTime(meta).getTime() - now, minInterval - (now - arrived), o.allowedAt - now);
}

export interface RenewalScheduleOptions {
  readonly clock: Clock;
  readonly log: Logger;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Load or renew `entry`'s certificate if it is due (the manager's lookup/obtain/install flow). */
  readonly ensure: (entry: Entry) => Promise<unknown>;
  /** Aborted when the manager closes: nothing is scheduled any more, and a failure is no failure. */
  readonly signal: AbortSignal;
}

/**
 * When each name is renewed: one renewal timer per entry (`entry.timer`), retries with backoff (or
 * at the CA's Retry-After or a park's end), and the cap of MAX_ORDERS_PER_WINDOW orders per name.
 * Runs on the injected clock.
 */
export class RenewalSchedule {
  readonly #o: RenewalScheduleOptions;
  /**
   * Clock times at which each name got a new certificate, within ORDER_WINDOW_MS. Kept in memory
   * only: after a restart the stored certificate is young, and MIN_AGE_SHARE keeps it.
   */
  readonly #orders = new LRUCache<string, number[]>({ max: 10_000 });

  constructor(options: RenewalScheduleOptions) {
    this.#o = options;
  }

  /** The delay before retrying after `failures` failed attempts before this one (0-based). */
  retryDelay(failures: number): number {
    return backoffDelay(failures, { baseMs: this.#o.retryBaseMs ?? DEFAULT_RETRY_BASE_MS, maxMs: this.#o.retryMaxMs ?? DEFAULT_RETRY_MAX_MS });
  }

  /** `name` got a new certificate now. */
  recordOrder(name: string): void {
    const now = this.#o.clock.now();
    const recent = this.#recent(name, now);
    recent.push(now);
    this.#orders.set(name, recent.slice(-MAX_ORDERS_PER_WINDOW));
  }

  /**
   * The earliest clock time at which `name` may be ordered again: now, unless it got
   * MAX_ORDERS_PER_WINDOW certificates within ORDER_WINDOW_MS and the CA did not ask for another
   * (`meta`'s ARI window moved earlier).
   */
  orderAllowedAt(name: string, meta: CertificateMeta): number {
    const now = this.#o.clock.now();
    if (meta.ari?.movedEarlierAt !== undefined) return now;
    const recent = this.#recent(name, now);
    const oldest = recent.length >= MAX_ORDERS_PER_WINDOW ? recent[recent.length - MAX_ORDERS_PER_WINDOW] : undefined;
    return oldest === undefined ? now : oldest + ORDER_WINDOW_MS;
  }

  /**
   * Whether the due renewal of `entry` (certificate `meta`) must wait for the order cap; logged
   * when it must. The caller's timer comes back at that time (scheduleRenewal counts it in).
   */
  postponed(entry: Entry, meta: CertificateMeta): boolean {
    const allowedAt = this.orderAllowedAt(entry.name, meta);
    if (allowedAt <= this.#o.clock.now()) return false;
    this.#o.log.warn(
      { name: entry.name, orders: MAX_ORDERS_PER_WINDOW, windowMs: ORDER_WINDOW_MS, retryAt: new Date(allowedAt).toISOString() },
      `renewal of ${entry.name} postponed: ${MAX_ORDERS_PER_WINDOW} certificates in 24 hours already (is the clock right?)`,
    );
    return true;
  }

  /** Schedule the renewal at the time `meta` says (see renewalDelay). */
  scheduleRenewal(entry: Entry, meta: CertificateMeta, minDelayMs = 0): void {
    const now = this.#o.clock.now();
    const lastOrderAt = this.#recent(entry.name, now).at(-1);
    this.schedule(entry, renewalDelay(meta, now, { allowedAt: this.orderAllowedAt(entry.name, meta), minDelayMs, ...(lastOrderAt !== undefined ? { lastOrderAt } : {}) }));
  }

  /** Run `ensure` for `entry` after `delayMs`; on failure retry with backoff. */
  schedule(entry: Entry, delayMs: number): void {
    const { clock, log, signal } = this.#o;
    if (signal.aborted || entry.removed) return;
    clock.clearTimer(entry.timer);
    entry.timer = clock.setTimer(() => {
      if (delayMs >= MAX_TIMER_MS) {
        this.schedule(entry, delayMs - MAX_TIMER_MS);
        return;
      }
      const before = entry.cert;
      this.#o.ensure(entry).then(() => {
        // A timer may fire a little before the wall-clock time it was set for (timers run on a
        // monotonic clock): ensure then finds nothing due yet and installs nothing, and without
        // this the renewal would never be scheduled again. Not sooner than a second: no spin.
        if (entry.cert !== undefined && entry.cert === before) this.scheduleRenewal(entry, entry.cert.meta, EARLY_TIMER_RETRY_MS);
      }, (err: unknown) => {
        // Aborted by close(): not a failure of the CA's, and nothing is scheduled any more.
        if (signal.aborted) return;
        const backoff = this.retryDelay(entry.failures++);
        // A CA that says when to come back (rateLimited, 503 with Retry-After) is believed, and so
        // is one that will never issue for the name (parked until a reload, a restart or the
        // park's end: see certs/holds.ts).
        const hold = findRefusal(err);
        const problem = findProblem(err);
        const retryMs = Math.max(backoff, problem?.retryAfter ?? 0, (hold?.until ?? 0) - clock.now());
        entry.parked = hold?.holds.some((h) => h.parked) === true;
        log.error(
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
        this.schedule(entry, retryMs);
      });
    }, Math.min(delayMs, MAX_TIMER_MS));
  }

  /** `name`'s orders within ORDER_WINDOW_MS of `now`, oldest first. */
  #recent(name: string, now: number): number[] {
    return (this.#orders.get(name) ?? []).filter((t) => t > now - ORDER_WINDOW_MS);
  }
}
