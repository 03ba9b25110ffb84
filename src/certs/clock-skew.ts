import { subscribe, unsubscribe, type Events } from '../diagnostics.ts';
import type { Logger } from '../log.ts';

type ClockSkew = Events['my-server:acme:clock-skew'];

/** A clock-skew warning is repeated at most this often (the CA's every response reports it). */
const CLOCK_SKEW_WARN_INTERVAL_MS = 3600_000;

/**
 * Log a warning when the ACME client reports a CA whose Date header disagrees with our clock
 * (`my-server:acme:clock-skew`, published by acme/http.ts): renewal times are only as right as the
 * clock, so it is said loudly, at most once an hour. Unsubscribes when `signal` aborts.
 */
export function warnOnClockSkew(log: Logger, signal: AbortSignal): void {
  let warnedAt = -Infinity;
  const onSkew = (message: unknown): void => {
    const skew = message as ClockSkew;
    const now = Date.now();
    if (now - warnedAt < CLOCK_SKEW_WARN_INTERVAL_MS) return;
    warnedAt = now;
    log.warn(
      { url: skew.url, skewMs: skew.skewMs, caDate: skew.caDate },
      `clock skew: this host's clock is ${describeSkew(skew.skewMs)} ${skew.skewMs > 0 ? 'ahead of' : 'behind'} the CA's (${skew.url}); certificate times and renewals are judged by it, fix the clock (NTP)`,
    );
  };
  subscribe('my-server:acme:clock-skew', onSkew);
  signal.addEventListener('abort', () => unsubscribe('my-server:acme:clock-skew', onSkew), { once: true });
}

/** "3.5 days", "2.0 hours", "5 minutes": the size of a skew, in the largest unit that fits twice. */
export function describeSkew(skewMs: number): string {
  const off = Math.abs(skewMs);
  if (off >= 2 * 86_400_000) return `${(off / 86_400_000).toFixed(1)} days`;
  if (off >= 2 * 3600_000) return `${(off / 3600_000).toFixed(1)} hours`;
  return `${Math.round(off / 60_000)} minutes`;
}
