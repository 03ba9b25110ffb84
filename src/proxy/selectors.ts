import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { LbCookieConfig, LbPolicy, LoadBalancingConfig } from '../config/types.ts';
import type { UpstreamState } from './upstream-state.ts';

/** What a selection policy may look at. `headers` has lower-case names; `host` is the authority. */
export interface SelectionRequest {
  /** The peer's address (ip_hash). */
  readonly clientIp: string;
  /** The client's address by the servers' client-IP rule, `{client_ip}` (client_ip_hash). */
  readonly resolvedClientIp: string;
  /** The request target as received: path and query. */
  readonly uri: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * The client reached us over HTTPS, or through a trusted proxy that says so with
   * X-Forwarded-Proto (the cookie policy then marks its cookie Secure, as Caddy does).
   */
  readonly secure: boolean;
  /** Takes the Set-Cookie value a policy wants on the response (cookie policy only). */
  readonly setCookie?: ((value: string) => void) | undefined;
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

/**
 * The selector for `lb`. `upstreams` are the proxy's upstreams in the order written, for the
 * policies whose configuration is per upstream (weighted_round_robin's weights).
 */
export function createSelector(
  lb: Omit<LoadBalancingConfig, 'retries' | 'tryDurationMs' | 'tryIntervalMs'>,
  random: RandomSource = Math.random,
  upstreams: readonly UpstreamState[] = [],
): Selector {
  const fallback = (): Selector => simpleSelector(lb.fallback ?? 'random', random);
  switch (lb.policy) {
    case 'header': {
      const name = (lb.header ?? '').toLowerCase();
      return new HeaderSelector(name, fallback());
    }
    case 'query':
      return new QuerySelector(lb.queryKey ?? '', fallback());
    case 'cookie':
      return new CookieSelector(lb.cookie ?? { name: 'lb', secret: '' }, fallback());
    case 'random_choose':
      return new RandomChooseSelector(lb.choose ?? 2, random);
    case 'weighted_round_robin':
      return new WeightedRoundRobinSelector(upstreams, lb.weights ?? []);
    default:
      return simpleSelector(lb.policy, random);
  }
}

/** The policies that need no configuration (and may be a fallback). */
function simpleSelector(policy: LbPolicy, random: RandomSource): Selector {
  switch (policy) {
    case 'round_robin':
      return new RoundRobinSelector();
    case 'least_conn':
      return new LeastConnSelector(random);
    case 'first':
      return new FirstSelector();
    case 'ip_hash':
      return new HashSelector((req) => req.clientIp);
    case 'client_ip_hash':
      return new HashSelector((req) => req.resolvedClientIp);
    case 'uri_hash':
      return new HashSelector((req) => req.uri);
    default:
      return new RandomSelector(random);
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

/**
 * `lb_policy query KEY`: hashes every value of the query parameter KEY joined with ",", so a
 * client cannot steer the choice by repeating the key (Caddy's QueryHashSelection); without
 * a value, the fallback policy.
 */
export class QuerySelector implements Selector {
  readonly #key: string;
  readonly #fallback: Selector;
  constructor(key: string, fallback: Selector) {
    this.#key = key;
    this.#fallback = fallback;
  }
  select(pool: readonly UpstreamState[], req: SelectionRequest): UpstreamState | undefined {
    const q = req.uri.indexOf('?');
    const value = q < 0 ? '' : new URLSearchParams(req.uri.slice(q + 1)).getAll(this.#key).join(',');
    if (value === '') return this.#fallback.select(pool, req);
    return hostByHashing(pool, value);
  }
}

/**
 * `lb_policy cookie [NAME [SECRET]]`: sticky sessions (Caddy's CookieHashSelection). The cookie's
 * value is HMAC-SHA256(SECRET, upstream address) in hex; a request whose cookie names an available
 * upstream goes there. Otherwise the fallback chooses and the response sets the cookie: Path=/,
 * HttpOnly, SameSite=Lax, or Secure and SameSite=None when the client came over HTTPS.
 */
export class CookieSelector implements Selector {
  readonly #config: LbCookieConfig;
  readonly #fallback: Selector;
  /** The HMAC of each upstream's address: the secret and the addresses never change. */
  readonly #macs = new WeakMap<UpstreamState, string>();
  constructor(config: LbCookieConfig, fallback: Selector) {
    this.#config = config;
    this.#fallback = fallback;
  }

  select(pool: readonly UpstreamState[], req: SelectionRequest): UpstreamState | undefined {
    const value = cookieValue(req.headers['cookie'], this.#config.name);
    if (value !== undefined) {
      const wanted = Buffer.from(value);
      for (const up of pool) {
        if (!up.available()) continue;
        const mac = Buffer.from(this.#mac(up));
        if (mac.length === wanted.length && timingSafeEqual(mac, wanted)) return up;
      }
    }
    const up = this.#fallback.select(pool, req);
    if (up !== undefined) req.setCookie?.(this.#cookie(up, req.secure));
    return up;
  }

  #mac(up: UpstreamState): string {
    let mac = this.#macs.get(up);
    if (mac === undefined) {
      mac = createHmac('sha256', this.#config.secret).update(up.address).digest('hex');
      this.#macs.set(up, mac);
    }
    return mac;
  }

  /** Attributes in the order Go's http.Cookie writes them. */
  #cookie(up: UpstreamState, secure: boolean): string {
    const maxAge = this.#config.maxAgeMs;
    return (
      `${this.#config.name}=${this.#mac(up)}; Path=/` +
      (maxAge !== undefined && maxAge > 0 ? `; Max-Age=${Math.floor(maxAge / 1000)}` : '') +
      '; HttpOnly' +
      (secure ? '; Secure; SameSite=None' : '; SameSite=Lax')
    );
  }
}

/** The first value of cookie `name` in a Cookie header (Go's Request.Cookie), unquoted. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const line of Array.isArray(header) ? header : [header]) {
    for (const part of line.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
      const raw = part.slice(eq + 1).trim();
      return raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    }
  }
  return undefined;
}

/**
 * `lb_policy random_choose N`: samples N available upstreams uniformly (reservoir sampling) and
 * takes the one with the fewest requests in flight; an idle one wins at once, ties at random
 * (Caddy's RandomChoiceSelection and leastRequests).
 */
export class RandomChooseSelector implements Selector {
  readonly #choose: number;
  readonly #random: RandomSource;
  constructor(choose: number, random: RandomSource = Math.random) {
    this.#choose = choose;
    this.#random = random;
  }
  select(pool: readonly UpstreamState[]): UpstreamState | undefined {
    const k = Math.min(this.#choose, pool.length);
    const choices: UpstreamState[] = [];
    let available = 0;
    for (const up of pool) {
      if (!up.available()) continue;
      available++;
      if (choices.length < k) {
        choices.push(up);
        continue;
      }
      const j = Math.floor(this.#random() * available);
      if (j < k) choices[j] = up;
    }
    let best: UpstreamState[] = [];
    let least = Infinity;
    for (const up of choices) {
      const n = up.inFlight();
      if (n === 0) return up;
      if (n < least) {
        least = n;
        best = [up];
      } else if (n === least) {
        best.push(up);
      }
    }
    return best.length <= 1 ? best[0] : best[Math.floor(this.#random() * best.length)];
  }
}

/**
 * `lb_policy weighted_round_robin W...`, as Caddy's WeightedRoundRobinSelection: a counter walks
 * the cumulative positive weights (the first request takes position 1), which gives an index
 * into the available upstreams of positive weight, modulo their number. So with every upstream
 * up, weights 3 1 send three requests of four to the first; an upstream that is down shifts the
 * indices onto the others, and weight 0 never gets a request.
 */
export class WeightedRoundRobinSelector implements Selector {
  readonly #weightOf = new Map<UpstreamState, number>();
  readonly #positive: readonly number[];
  readonly #total: number;
  #counter = 0;
  constructor(upstreams: readonly UpstreamState[], weights: readonly number[]) {
    upstreams.forEach((up, i) => this.#weightOf.set(up, weights[i] ?? 0));
    this.#positive = weights.filter((w) => w > 0);
    this.#total = this.#positive.reduce((a, b) => a + b, 0);
  }
  select(pool: readonly UpstreamState[]): UpstreamState | undefined {
    if (this.#total <= 0) return undefined;
    // Caddy's counter is a uint32 that wraps; ours wraps at the same place.
    this.#counter = (this.#counter + 1) % 2 ** 32;
    const current = this.#counter % this.#total;
    let index = 0;
    for (let i = 0, sum = 0; i < this.#positive.length; i++) {
      sum += this.#positive[i] as number;
      if (current < sum) {
        index = i;
        break;
      }
    }
    const candidates = pool.filter((up) => up.available() && (this.#weightOf.get(up) ?? 0) > 0);
    if (candidates.length === 0) return undefined;
    return candidates[index % candidates.length];
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
