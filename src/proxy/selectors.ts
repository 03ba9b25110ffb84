import type { IncomingHttpHeaders } from 'node:http';
import type { LoadBalancingConfig } from '../config/types.ts';
import type { UpstreamState } from './upstream-state.ts';

/** What a selection policy may look at. `headers` has lower-case names; `host` is the authority. */
export interface SelectionRequest {
  readonly clientIp: string;
  /** The request target as received: path and query. */
  readonly uri: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * One lb_policy. `select` returns an available upstream of `pool`, or undefined when none is
 * available; it never returns an upstream whose `available()` is false. Policies that keep state
 * (round_robin) keep it on the instance, so two proxies never share a cursor.
 */
export interface Selector {
  select(pool: readonly UpstreamState[], req: SelectionRequest): UpstreamState | undefined;
}

/** A number in [0, 1); injectable so tie-breaking is testable. */
export type RandomSource = () => number;

export function createSelector(lb: Pick<LoadBalancingConfig, 'policy' | 'header'>, random: RandomSource = Math.random): Selector {
  switch (lb.policy) {
    case 'random':
      return new RandomSelector(random);
    case 'round_robin':
      return new RoundRobinSelector();
    case 'least_conn':
      return new LeastConnSelector(random);
    case 'first':
      return new FirstSelector();
    case 'ip_hash':
      return new HashSelector((req) => req.clientIp);
    case 'uri_hash':
      return new HashSelector((req) => req.uri);
    case 'header': {
      const name = (lb.header ?? '').toLowerCase();
      return new HeaderSelector(name, new RandomSelector(random));
    }
  }
}

export class RandomSelector implements Selector {
  readonly #random: RandomSource;
  constructor(random: RandomSource = Math.random) {
    this.#random = random;
  }
  select(pool: readonly UpstreamState[]): UpstreamState | undefined {
    // Reservoir sampling: one pass, without first building the list of available upstreams.
    let chosen: UpstreamState | undefined;
    let seen = 0;
    for (const up of pool) {
      if (!up.available()) continue;
      seen++;
      if (Math.floor(this.#random() * seen) === 0) chosen = up;
    }
    return chosen;
  }
}

export class RoundRobinSelector implements Selector {
  #cursor = 0;
  select(pool: readonly UpstreamState[]): UpstreamState | undefined {
    // Skips unavailable upstreams but still advances past them, so one down upstream does not
    // double the share of its successor for long (the cursor moves on with each request).
    for (let i = 0; i < pool.length; i++) {
      const up = pool[this.#cursor % pool.length];
      this.#cursor = (this.#cursor + 1) % Number.MAX_SAFE_INTEGER;
      if (up?.available()) return up;
    }
    return undefined;
  }
}

/** Fewest requests in flight (requests, not connections, as in Caddy); ties broken at random. */
export class LeastConnSelector implements Selector {
  readonly #random: RandomSource;
  constructor(random: RandomSource = Math.random) {
    this.#random = random;
  }
  select(pool: readonly UpstreamState[]): UpstreamState | undefined {
    let best: UpstreamState | undefined;
    let least = Infinity;
    let ties = 0;
    for (const up of pool) {
      if (!up.available()) continue;
      const n = up.inFlight();
      if (n < least) {
        least = n;
        ties = 0;
      }
      if (n === least) {
        ties++;
        if (Math.floor(this.#random() * ties) === 0) best = up;
      }
    }
    return best;
  }
}

export class FirstSelector implements Selector {
  select(pool: readonly UpstreamState[]): UpstreamState | undefined {
    return pool.find((up) => up.available());
  }
}

/**
 * Sticky selection by a key, with rendezvous (highest random weight) hashing as Caddy does: each
 * available upstream scores hash(address + key) and the highest wins. When an upstream goes down
 * only its keys move; the others keep their upstream.
 */
export class HashSelector implements Selector {
  readonly #key: (req: SelectionRequest) => string;
  constructor(key: (req: SelectionRequest) => string) {
    this.#key = key;
  }
  select(pool: readonly UpstreamState[], req: SelectionRequest): UpstreamState | undefined {
    return hostByHashing(pool, this.#key(req));
  }
}

/**
 * `lb_policy header NAME`: hashes the header's value; when the request lacks it (or it is empty)
 * falls back to random, as Caddy does by default. Repeated headers are joined with ", ".
 */
export class HeaderSelector implements Selector {
  readonly #name: string;
  readonly #fallback: Selector;
  constructor(name: string, fallback: Selector) {
    this.#name = name;
    this.#fallback = fallback;
  }
  select(pool: readonly UpstreamState[], req: SelectionRequest): UpstreamState | undefined {
    const raw = req.headers[this.#name];
    const value = Array.isArray(raw) ? raw.join(', ') : raw;
    if (value === undefined || value === '') return this.#fallback.select(pool, req);
    return hostByHashing(pool, value);
  }
}

export function hostByHashing(pool: readonly UpstreamState[], key: string): UpstreamState | undefined {
  let best: UpstreamState | undefined;
  let bestScore = -1;
  for (const up of pool) {
    if (!up.available()) continue;
    const score = hash32(up.address + key);
    if (score > bestScore) {
      bestScore = score;
      best = up;
    }
  }
  return best;
}

/**
 * FNV-1a over UTF-16 code units, then murmur3's fmix32 finalizer. Caddy uses xxhash64; any stable,
 * well-mixed hash will do for rendezvous hashing. Plain FNV-1a mixes its last bytes poorly, and the
 * keys here differ only at the end ("10.0.0.1:80" + key), hence the finalizer.
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
