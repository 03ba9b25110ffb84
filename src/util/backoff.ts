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

/**
 * The one sleep of my-server (acme/ keeps its own: it imports nothing of ours). Resolves after
 * `ms` (at most MAX_TIMER_MS: longer waits are the caller's hops), or earlier when `wake` calls the
 * listener it was given (an in-process unlock ending a lock waiter's poll); rejects with the
 * signal's reason when `signal` aborts, at once if it already has. Every listener is removed when
 * it settles.
 *
 * The timer is not unref'd: a process whose only work left is a sleeping retry (a `certs` command
 * waiting for a lock) must not exit in the middle of it. Background loops end through `signal`.
 */
export function sleep(
  ms: number,
  signal?: AbortSignal,
  wake?: (listener: () => void) => () => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    // settle() only runs from the timer, an abort event or wake, never during this executor.
    const settle = (aborted: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      unsubscribe?.();
      if (aborted) reject(signal?.reason as Error);
      else resolve();
    };
    const onAbort = (): void => settle(true);
    const timer = setTimeout(() => settle(false), Math.min(ms, MAX_TIMER_MS));
    signal?.addEventListener('abort', onAbort, { once: true });
    const unsubscribe = wake?.(() => settle(false));
  });
}
