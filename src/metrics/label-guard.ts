/**
 * Keeps one label's set of values bounded. Publishers promise configured values, but a bug (or an
 * on-demand certificate per name a client asked for) must not turn into an unbounded number of
 * series: each series costs memory for the life of the process and every scrape carries it.
 *
 * admit() returns the value while it is known or room is left, and undefined once `max` distinct
 * values are held; the caller decides what an over-limit value becomes ("other" for counters,
 * nothing for gauges). forget() releases a value whose series was removed.
 */
export class LabelGuard {
  readonly #max: number;
  readonly #seen = new Set<string>();
  readonly #onFull: () => void;
  #warned = false;

  constructor(max: number, onFull: () => void) {
    this.#max = max;
    this.#onFull = onFull;
  }

  admit(value: string): string | undefined {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) {
      if (!this.#warned) {
        this.#warned = true;
        this.#onFull();
      }
      return undefined;
    }
    this.#seen.add(value);
    return value;
  }

  has(value: string): boolean {
    return this.#seen.has(value);
  }

  forget(value: string): void {
    this.#seen.delete(value);
  }

  values(): string[] {
    return [...this.#seen];
  }
}

/** Value of a counter label past its guard's limit. */
export const OTHER = 'other';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** The method label: the registered methods of RFC 9110 and PATCH, anything else "OTHER". */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'OTHER';
}

/** The code label: the exact status for 100–599 (at most 500 values), "other" for anything else. */
export function codeLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : OTHER;
}

const PROTOCOLS = new Set(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']);

/** The TLS protocol label: a known version, or "unknown" (a failed handshake often has none). */
export function protocolLabel(protocol: string | undefined): string {
  return protocol !== undefined && PROTOCOLS.has(protocol) ? protocol : 'unknown';
}
