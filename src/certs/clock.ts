import { MAX_TIMER_MS } from '../util/backoff.ts';

/**
 * The certificate manager's time and timers, injectable so tests can step through days of renewal
 * schedule. Timers must not keep the process alive; `clearTimer` of an unknown or fired timer is a
 * no-op.
 */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.min(ms, MAX_TIMER_MS)).unref(),
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};
