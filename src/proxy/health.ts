import type { ActiveHealthConfig, StatusMatch } from '../config/types.ts';
import type { UpstreamState } from './upstream-state.ts';
import type { UpstreamTransport } from './transport.ts';
import { publish } from '../diagnostics.ts';

/**
 * One health request to one upstream: resolves with the response status, rejects when the
 * upstream cannot be reached or `signal` aborts (the checker aborts at health_timeout and on stop).
 */
export type HealthProbe = (upstream: UpstreamState, signal: AbortSignal) => Promise<number>;

/** The timer functions the checker uses; inject fakes to drive it without waiting. */
export interface IntervalTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: IntervalTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export interface HealthCheckerOptions {
  readonly probe: HealthProbe;
  readonly timers?: IntervalTimers | undefined;
}

/**
 * Active health checks: every `intervalMs`, GET `uri` on each upstream; a response whose status
 * matches `status` within `timeoutMs` marks it healthy, anything else unhealthy. One failed or one
 * passed check flips the verdict (Caddy's default of health_fails 1 / health_passes 1). Transitions
 * are published on my-server:upstream:healthy / my-server:upstream:unhealthy.
 *
 * The timer is unref'd: health checks never keep the process alive. A probe still running when
 * its next turn comes is not started twice. stop() aborts probes in flight.
 */
export class HealthChecker {
  readonly #upstreams: readonly UpstreamState[];
  readonly #config: ActiveHealthConfig;
  readonly #probe: HealthProbe;
  readonly #timers: IntervalTimers;
  readonly #running = new Set<UpstreamState>();
  #stop = new AbortController();
  #handle: unknown;

  constructor(upstreams: readonly UpstreamState[], config: ActiveHealthConfig, options: HealthCheckerOptions) {
    this.#upstreams = upstreams;
    this.#config = config;
    this.#probe = options.probe;
    this.#timers = options.timers ?? realTimers;
  }

  /** Check at once (so a dead upstream is known before the first interval), then on the timer. */
  start(): void {
    if (this.#handle !== undefined) return;
    this.#stop = new AbortController();
    this.#handle = this.#timers.setInterval(() => void this.checkNow(), Math.max(1, this.#config.intervalMs));
    void this.checkNow();
  }

  stop(): void {
    if (this.#handle !== undefined) this.#timers.clearInterval(this.#handle);
    this.#handle = undefined;
    this.#stop.abort();
  }

  /** One round over every upstream, in parallel; resolves when all verdicts are recorded. */
  async checkNow(): Promise<void> {
    await Promise.all(this.#upstreams.map((up) => this.#check(up)));
  }

  async #check(up: UpstreamState): Promise<void> {
    if (this.#running.has(up) || this.#stop.signal.aborted) return;
    this.#running.add(up);
    const stop = this.#stop.signal;
    try {
      let healthy: boolean;
      let reason: string;
      try {
        const signal = AbortSignal.any([stop, AbortSignal.timeout(this.#config.timeoutMs)]);
        const status = await this.#probe(up, signal);
        healthy = statusMatches(status, this.#config.status);
        reason = `status ${status}`;
      } catch (err) {
        healthy = false;
        reason = err instanceof Error ? err.message : String(err);
      }
      // A probe cut short by stop() says nothing about the upstream.
      if (stop.aborted) return;
      if (up.setActiveHealthy(healthy)) {
        publish(healthy ? 'my-server:upstream:healthy' : 'my-server:upstream:unhealthy', { upstream: up.address, reason });
      }
    } finally {
      this.#running.delete(up);
    }
  }
}

export function statusMatches(status: number, match: StatusMatch): boolean {
  if (typeof match === 'number') return status === match;
  return Math.floor(status / 100) === Number(match[0]);
}

/**
 * The default probe: GET `uri` over the proxy's own transport (same TLS settings, same pool), with
 * the upstream's host:port as Host. The body is drained and ignored.
 */
export function httpProbe(transport: UpstreamTransport, uri: string): HealthProbe {
  return async (up, signal) => {
    const host = up.config.scheme === 'unix' ? 'localhost' : up.address;
    try {
      return await transport.get(up.config, uri, { host, 'user-agent': 'my-server health check' }, signal);
    } catch (err) {
      throw signal.aborted ? abortReason(signal) : err;
    }
  };
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return new Error('health check timed out', { cause: reason });
  return reason instanceof Error ? reason : new Error('health check aborted');
}
