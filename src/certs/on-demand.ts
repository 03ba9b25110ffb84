import http from 'node:http';
import https from 'node:https';
import { MyServerError } from '../errors.ts';

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
