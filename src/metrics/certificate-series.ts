import { Gauge, type Registry } from 'prom-client';
import type { CertificateStatus } from '../certs/lifecycle.ts';
import { OTHER } from './label-guard.ts';

/** What the series are made from: the lifecycle of every certificate served now (CertificateManager.lifecycle). */
export type CertificateSource = () => readonly CertificateStatus[];

/**
 * Names with series of their own, unless `metrics { per_certificate_limit N }` says otherwise: a
 * hand-written Proxyfile has fewer; an on-demand fleet of thousands is aggregated past it, so a
 * scrape stays a few hundred lines whatever the fleet.
 */
export const DEFAULT_CERTIFICATE_SERIES_LIMIT = 100;

type State = 'valid' | 'pending' | 'failing' | 'parked';
const STATES: readonly State[] = ['valid', 'pending', 'failing', 'parked'];

interface Rows {
  readonly states: ReadonlyMap<State, number>;
  /** The names with series of their own, failing ones first. */
  readonly named: readonly CertificateStatus[];
  /** Everything past the limit. */
  readonly rest: readonly CertificateStatus[];
}

/**
 * Per-certificate lifecycle series, computed from the lifecycle at each scrape (prom-client's
 * collect), so they are never stale and a name gone from the config is gone from the next scrape.
 *
 * Labels stay bounded: at most `limit` names get series of their own; failing and parked names are
 * chosen first (the ones an operator must see), then by name. The rest are aggregated under
 * name="other": the earliest time of each timestamp series, the most failures.
 * `my_server_certificates{state}` always counts every name.
 */
export class CertificateSeries {
  readonly #source: CertificateSource;
  #limit: number;
  #rows: Rows | undefined;

  /** `typeLabel`: the `type` label of a last error (metrics.ts acmeErrorTypeOf, shared with my_server_acme_errors_total). */
  constructor(registry: Registry, source: CertificateSource, limit: number, typeLabel: (e: { readonly type?: string; readonly code?: string }) => string) {
    this.#source = source;
    this.#limit = limit;
    const registers = [registry];
    const rows = (): Rows => this.#current();
    new Gauge({
      name: 'my_server_certificates',
      help: 'Certificate names served, by state: valid (held, last attempt fine), pending (being obtained), failing (last attempt failed), parked (the CA refused for good).',
      labelNames: ['state'],
      registers,
      // With `workers N` (cluster/primary.ts) only the leader renews: a follower reports the same
      // names as valid and without failures, so the highest value is the one that tells.
      aggregator: 'max',
      collect() {
        this.reset();
        for (const [state, n] of rows().states) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'my_server_certificate_info',
      help: 'Always 1: the CA (ACME directory URL or "local"), issuing certificate and ACME profile of the certificate held for a name.',
      labelNames: ['name', 'ca', 'issuer', 'profile'],
      registers,
      collect() {
        this.reset();
        for (const c of rows().named) this.set({ name: c.name, ca: c.issuer, issuer: c.issuerName, profile: c.profile ?? '' }, 1);
      },
    });
    const timestamp = (name: string, help: string, pick: (c: CertificateStatus) => string | undefined): void => {
      new Gauge({
        name,
        help: `${help} Unix seconds; name="other" holds the earliest of the names past the per-certificate limit.`,
        labelNames: ['name'],
        registers,
        collect() {
          this.reset();
          const { named, rest } = rows();
          for (const c of named) {
            const t = seconds(pick(c));
            if (t !== undefined) this.set({ name: c.name }, t);
          }
          // A loop, not Math.min(...): a fleet past the limit can hold more names than a call has arguments.
          const earliest = rest.reduce((min, c) => Math.min(min, seconds(pick(c)) ?? Infinity), Infinity);
          if (Number.isFinite(earliest)) this.set({ name: OTHER }, earliest);
        },
      });
    };
    timestamp('my_server_certificate_not_before_timestamp_seconds', 'notBefore of the certificate held.', (c) => c.notBefore);
    timestamp('my_server_certificate_not_after_timestamp_seconds', 'notAfter of the certificate held.', (c) => c.notAfter);
    timestamp('my_server_certificate_renewal_timestamp_seconds', 'When the certificate held is due for renewal (the time chosen in the ARI window, else one third of the lifetime left).', (c) => c.renewAt);
    timestamp('my_server_certificate_ari_window_start_timestamp_seconds', "Start of the CA's renewal window (RFC 9773).", (c) => c.ariWindow?.start);
    timestamp('my_server_certificate_ari_window_end_timestamp_seconds', "End of the CA's renewal window (RFC 9773).", (c) => c.ariWindow?.end);
    timestamp('my_server_certificate_next_attempt_timestamp_seconds', 'When the next issuance attempt is due (renewal time, or the retry after a failure).', (c) => c.nextAttempt);
    timestamp('my_server_certificate_last_check_timestamp_seconds', 'Last issuance attempt or renewal-information check.', (c) => c.lastCheck);
    new Gauge({
      name: 'my_server_certificate_consecutive_failures',
      help: 'Failed issuance attempts since the last success; name="other" holds the most of the names past the per-certificate limit.',
      labelNames: ['name'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        const { named, rest } = rows();
        for (const c of named) this.set({ name: c.name }, c.consecutiveFailures);
        if (rest.length > 0) this.set({ name: OTHER }, rest.reduce((max, c) => Math.max(max, c.consecutiveFailures), 0));
      },
    });
    new Gauge({
      name: 'my_server_certificate_last_error_timestamp_seconds',
      help: 'Time of the last failed issuance attempt, by ACME problem short name (or network, timeout, protocol, challenge, other); the detail is in GET /certificates and certs list.',
      labelNames: ['name', 'type'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const c of rows().named) {
          const t = seconds(c.lastError?.at);
          if (t !== undefined && c.lastError !== undefined) this.set({ name: c.name, type: typeLabel(c.lastError) }, t);
        }
      },
    });
  }

  /** Takes effect at the next scrape. */
  setLimit(limit: number): void {
    this.#limit = limit;
  }

  /** One computation per scrape: every collect() of one scrape runs in the same tick. */
  #current(): Rows {
    if (this.#rows !== undefined) return this.#rows;
    const all = this.#source();
    const states = new Map<State, number>(STATES.map((s) => [s, 0]));
    for (const c of all) states.set(stateOf(c), (states.get(stateOf(c)) ?? 0) + 1);
    const sorted = [...all].sort((a, b) => Number(b.consecutiveFailures > 0) - Number(a.consecutiveFailures > 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const rows: Rows = { states, named: sorted.slice(0, this.#limit), rest: sorted.slice(this.#limit) };
    this.#rows = rows;
    setImmediate(() => {
      if (this.#rows === rows) this.#rows = undefined;
    });
    return rows;
  }
}

function stateOf(c: CertificateStatus): State {
  if (c.parked === true) return 'parked';
  if (c.consecutiveFailures > 0) return 'failing';
  return c.notAfter === undefined ? 'pending' : 'valid';
}

function seconds(iso: string | undefined): number | undefined {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(t) ? undefined : t / 1000;
}
