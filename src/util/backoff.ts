/**
 * Delay before retry number `attempt` (0-based): exponential from `baseMs`, capped at `maxMs`, with
 * "full jitter" between half and the whole of it, so a fleet that failed together does not retry
 * together. Never zero: a failure can not turn into a tight loop.
 */
export function backoffDelay(attempt: number, options: { baseMs: number; maxMs: number; random?: () => number }): number {
  const random = options.random ?? Math.random;
  const exp = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(exp / 2 + (exp / 2) * random()));
}

/** setTimeout's limit: larger delays fire at once, so long waits are taken in hops. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves after `ms`, rejects with the signal's reason when it aborts. The timer is unref'd. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.min(ms, MAX_TIMER_MS));
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
