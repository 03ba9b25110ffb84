import * as http from '../util/node-http.ts';
import https from 'node:https';
import { isIP } from 'node:net';
import { MyServerError } from '../errors.ts';
import { LOCAL_ISSUER } from './keys.ts';
import { isSingleLabel, normalizeName } from './names.ts';

export interface OnDemandOptions {
  /** `GET ask?domain=NAME`; 200 allows, anything else refuses (Caddy's contract). */
  readonly ask: string;
  /** At most `burst` issuances per `intervalMs`; both absent means no rate limit. */
  readonly intervalMs?: number;
  readonly burst?: number;
  readonly askTimeoutMs?: number;
  readonly now?: () => number;
}

/** Caddy gives `ask` 10 s; a handshake waiting on a slow endpoint should not wait longer. */
const DEFAULT_ASK_TIMEOUT_MS = 10_000;

/**
 * Why a name that arrived in SNI may not get an on-demand certificate whatever `ask` would say, or
 * undefined when it may be asked about. The checks that need no one's permission run first, so no
 * hostile name reaches the ask endpoint, the rate limit or a CA:
 * - not a host name in A-label form (normalizeName: NUL, non-ASCII, invalid punycode...);
 * - an IP literal: RFC 6066 §3, "Literal IPv4 and IPv6 addresses are not permitted in
 *   "HostName"". IP sites are served by their configured certificates only; on demand, a client
 *   would otherwise have the local CA mint a certificate for any address it cares to name;
 * - a wildcard (a "*" in SNI is no host name, and issuing would mint a wildcard certificate);
 * - one label ("test", "intranet") for a public CA, which refuses such names anyway (CA/Browser
 *   Forum Baseline Requirements §3.2.2.4: no internal names); the local CA may still serve them.
 */
export function onDemandRefusal(servername: string, issuer: { readonly id: string }): string | undefined {
  const name = normalizeName(servername);
  if (name === undefined || name !== servername) return 'not a host name in normal A-label form';
  if (isIP(name) !== 0) return 'an IP address in SNI';
  if (name.includes('*')) return 'a wildcard in SNI';
  if (isSingleLabel(name) && issuer.id !== LOCAL_ISSUER) return 'a single-label name, which no public CA issues for';
  return undefined;
}

/**
 * The on-demand issuance policy (SPEC.md): a name is issued only when `ask` allows it and the
 * interval/burst budget has room. A refusal costs no ACME traffic.
 */
export class OnDemandPolicy {
  readonly #o: OnDemandOptions;
  readonly #issued: number[] = [];

  constructor(options: OnDemandOptions) {
    this.#o = options;
  }

  /** Resolves when `name` may be issued now; rejects with MS_ERR_POLICY naming the reason. */
  async authorize(name: string, signal?: AbortSignal): Promise<void> {
    // Callers check onDemandRefusal first; this keeps the ask endpoint from ever seeing an IP
    // literal or a malformed name whoever calls.
    const normal = normalizeName(name);
    if (normal !== name || normal === undefined || isIP(normal) !== 0) {
      throw new MyServerError('MS_ERR_POLICY', `on-demand certificate for ${JSON.stringify(name)} refused: not a host name`);
    }
    const status = await this.#ask(name, signal);
    if (status !== 200) {
      throw new MyServerError('MS_ERR_POLICY', `on-demand certificate for ${name} refused: ask endpoint answered ${status}`);
    }
    this.#take(name);
  }

  #take(name: string): void {
    const { intervalMs, burst } = this.#o;
    if (intervalMs === undefined || burst === undefined) return;
    const now = (this.#o.now ?? Date.now)();
    while (this.#issued.length > 0 && this.#issued[0]! <= now - intervalMs) this.#issued.shift();
    if (this.#issued.length >= burst) {
      throw new MyServerError('MS_ERR_POLICY', `on-demand certificate for ${name} refused: rate limit of ${burst} per ${intervalMs} ms reached`);
    }
    this.#issued.push(now);
  }

  #ask(name: string, signal?: AbortSignal): Promise<number> {
    const url = new URL(this.#o.ask);
    url.searchParams.set('domain', name);
    const get = url.protocol === 'https:' ? https.get : http.get;
    return new Promise((resolve, reject) => {
      const req = get(url, { timeout: this.#o.askTimeoutMs ?? DEFAULT_ASK_TIMEOUT_MS, ...(signal ? { signal } : {}) }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#o.askTimeoutMs ?? DEFAULT_ASK_TIMEOUT_MS} ms`)));
      req.on('error', (err) =>
        reject(new MyServerError('MS_ERR_POLICY', `on-demand certificate for ${name} refused: asking ${this.#o.ask}`, { cause: err })),
      );
    });
  }
}
