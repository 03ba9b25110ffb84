import type { PassiveHealthConfig, UpstreamConfig } from '../config/types.ts';
import { joinHostPort } from '../util/host.ts';

/** Milliseconds on a monotonic clock; injectable so health windows can be tested without waiting. */
export type Clock = () => number;

export const monotonicClock: Clock = () => performance.now();

/**
 * The runtime state of one upstream, kept apart from its (immutable) config: requests in flight,
 * recent failures (passive health) and the verdict of the last active check. One instance per
 * upstream per ReverseProxy; JavaScript's single thread makes every method atomic.
 */
export class UpstreamState {
  readonly config: UpstreamConfig;
  /** "host:port" or "unix//path", as named in logs and diagnostics events. */
  readonly address: string;
  readonly #passive: PassiveHealthConfig;
  readonly #now: Clock;
  #inFlight = 0;
  #activeHealthy = true;
  /**
   * Expiry times of remembered failures, oldest first. Only the newest `maxFails` matter: with a
   * fixed window and a monotonic clock they expire last, so "at least maxFails unexpired" holds
   * exactly when the oldest of them is unexpired. Capping the list bounds memory under a flood.
   */
  readonly #failExpiries: number[] = [];

  constructor(config: UpstreamConfig, passive: PassiveHealthConfig, now: Clock = monotonicClock) {
    this.config = config;
    this.address = upstreamAddress(config);
    this.#passive = passive;
    this.#now = now;
  }

  /** Requests (and WebSocket connections) currently proxied to this upstream. */
  inFlight(): number {
    return this.#inFlight;
  }

  /** Call once per proxied request when it starts; pair with exactly one `release()`. */
  acquire(): void {
    this.#inFlight++;
  }

  release(): void {
    if (this.#inFlight > 0) this.#inFlight--;
  }

  /**
   * Remember a failed request for failDuration. Returns true when this failure made the upstream
   * unhealthy (it was healthy by passive measure before). A no-op when passive health is off.
   */
  countFailure(): boolean {
    const { failDurationMs, maxFails } = this.#passive;
    if (failDurationMs <= 0) return false;
    const wasHealthy = this.#passivelyHealthy();
    this.#failExpiries.push(this.#now() + failDurationMs);
    if (this.#failExpiries.length > Math.max(1, maxFails)) this.#failExpiries.shift();
    return wasHealthy && !this.#passivelyHealthy();
  }

  /** Failures still inside the window (at most maxFails are remembered). */
  failures(): number {
    this.#prune();
    return this.#failExpiries.length;
  }

  /** Record an active health check's verdict. Returns true when the verdict changed. */
  setActiveHealthy(healthy: boolean): boolean {
    const changed = this.#activeHealthy !== healthy;
    this.#activeHealthy = healthy;
    return changed;
  }

  activeHealthy(): boolean {
    return this.#activeHealthy;
  }

  /** Up by the last active check and not over max_fails within fail_duration. */
  healthy(): boolean {
    return this.#activeHealthy && this.#passivelyHealthy();
  }

  /**
   * May be chosen for a new request. Today the same as healthy(); kept apart (as Caddy does) so a
   * per-upstream request limit can make a healthy upstream unavailable without calling it sick.
   */
  available(): boolean {
    return this.healthy();
  }

  #passivelyHealthy(): boolean {
    if (this.#passive.failDurationMs <= 0) return true;
    return this.failures() < Math.max(1, this.#passive.maxFails);
  }

  #prune(): void {
    const now = this.#now();
    while (this.#failExpiries.length > 0 && (this.#failExpiries[0] ?? Infinity) <= now) this.#failExpiries.shift();
  }
}

/** "host:port" (IPv6 bracketed) or "unix//path": how an upstream is named in logs and events. */
export function upstreamAddress(upstream: UpstreamConfig): string {
  return upstream.scheme === 'unix' ? `unix/${upstream.path ?? ''}` : joinHostPort(upstream.host, upstream.port);
}
