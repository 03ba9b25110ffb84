import { LRUCache } from 'lru-cache';
import { findProblem } from '../acme/problem.ts';
import { MyServerError } from '../errors.ts';
import type { Clock } from './clock.ts';
import { findRefusal } from './issuer.ts';

/** How long a name the on-demand policy refused is refused without asking again. */
const ON_DEMAND_REFUSAL_CACHE_MS = 10_000;

export interface OnDemandFailure {
  readonly until: number;
  readonly failures: number;
  readonly parked?: boolean;
}

/**
 * On-demand names that just failed (refused by the policy, or issuance failed): handshakes for
 * them fail at once until `until`, so neither the ask endpoint nor the CA sees one request per
 * handshake. An LRU of 10,000 names, so a flood of denied names costs bounded memory (~150 bytes
 * each, docs/design.md "Names and clocks").
 */
export class OnDemandFailures {
  readonly #failed = new LRUCache<string, OnDemandFailure>({ max: 10_000 });
  readonly #clock: Clock;
  readonly #retryDelay: (failures: number) => number;

  /** `retryDelay(n)`: the issuance backoff after n + 1 failures in a row (RenewalSchedule.retryDelay). */
  constructor(clock: Clock, retryDelay: (failures: number) => number) {
    this.#clock = clock;
    this.#retryDelay = retryDelay;
  }

  /** The last failure recorded for `name`, also one that no longer refuses (its count sets the next backoff). */
  get(name: string): OnDemandFailure | undefined {
    return this.#failed.get(name);
  }

  /** Whether `failure` still refuses handshakes now. */
  refuses(failure: OnDemandFailure | undefined): boolean {
    return failure !== undefined && failure.until > this.#clock.now();
  }

  /** `name` failed with `err` after `previous`. */
  record(name: string, err: unknown, previous: OnDemandFailure | undefined): void {
    const failures = (previous?.failures ?? 0) + 1;
    const refused = err instanceof MyServerError && err.code === 'MS_ERR_POLICY';
    // A refusal is asked again soon (the ask endpoint may allow the name later); a failed
    // issuance backs off like managed names do, and never asks before the CA's Retry-After
    // or a park's end (the hold is in storage too, for every other path).
    const hold = findRefusal(err);
    const backoff = refused ? ON_DEMAND_REFUSAL_CACHE_MS : this.#retryDelay(failures - 1);
    const now = this.#clock.now();
    const until = Math.max(now + backoff, hold?.until ?? 0, now + (findProblem(err)?.retryAfter ?? 0));
    this.#failed.set(name, { until, failures, ...(hold?.holds.some((h) => h.parked) ? { parked: true } : {}) });
  }

  delete(name: string): void {
    this.#failed.delete(name);
  }

  /** Forget parked names (a start or reload lifts parks); the CA's own waits stay. */
  liftParks(): void {
    for (const name of [...this.#failed.keys()]) if (this.#failed.peek(name)?.parked) this.#failed.delete(name);
  }
}
