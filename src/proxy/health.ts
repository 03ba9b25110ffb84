import type { ActiveHealthConfig, StatusMatch, UpstreamConfig } from '../config/types.ts';
import { joinHostPort } from '../util/host.ts';
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
 * Active health checks: every `intervalMs`, a probe of each upstream (see httpProbe); a response whose status
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

/** health_body reads at most this much of a response: enough for any status page, bounded. */
const MAX_HEALTH_BODY = 1024 * 1024;

/**
 * The default probe, as Caddy's doActiveHealthCheck: `method` (GET) for `uri` (`/` when only a
 * port is set) over the proxy's own transport (same TLS settings), to `health.port` of the
 * upstream's host when set. Host is that host:port unless `headers` names a Host; the other
 * `headers` are added. With `body`, a response whose body does not match is a failed check;
 * otherwise the body is drained and ignored.
 */
export function httpProbe(transport: UpstreamTransport, health: ActiveHealthConfig): HealthProbe {
  const body = health.body === undefined ? undefined : new RegExp(health.body.source, health.body.flags);
  const extra: Record<string, string[]> = {};
  let hostOverride: string | undefined;
  for (const [name, values] of Object.entries(health.headers ?? {})) {
    if (name.toLowerCase() === 'host') hostOverride = values[0] ?? '';
    else extra[name.toLowerCase()] = [...values];
  }
  return async (up, signal) => {
    const target = health.port === undefined ? up.config : healthTarget(up.config, health.port);
    const host = hostOverride ?? (target.scheme === 'unix' ? 'localhost' : joinHostPort(target.host, target.port));
    try {
      const res = await transport.probe(
        target,
        {
          method: health.method ?? 'GET',
          path: health.uri ?? '/',
          headers: { host, 'user-agent': 'my-server health check', ...extra },
          readBody: body !== undefined,
          maxBody: MAX_HEALTH_BODY,
        },
        signal,
      );
      // A wrong status says enough; the body is judged only after it, as Caddy does.
      if (body !== undefined && statusMatches(res.status, health.status) && !body.test(res.body)) {
        throw new Error(`response body does not match health_body /${health.body?.source ?? ''}/`);
      }
      return res.status;
    } catch (err) {
      throw signal.aborted ? abortReason(signal) : err;
    }
  };
}

/** The upstream with its port replaced by health_port (a unix socket becomes TCP on localhost). */
function healthTarget(upstream: UpstreamConfig, port: number): UpstreamConfig {
  if (upstream.scheme === 'unix') return { scheme: 'http', host: 'localhost', port };
  return { ...upstream, port };
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return new Error('health check timed out', { cause: reason });
  return reason instanceof Error ? reason : new Error('health check aborted');
}
