import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `fn` every `intervalMs` until it returns a value other than undefined, for at most `timeoutMs`.
 * A rejection counts as "not yet"; the last one is named in the error thrown at the deadline,
 * `WHAT: not within N ms (last error: …)`. An abort of `signal` ends the wait at once, rejecting
 * with its reason (e.g. the process being polled has exited, so waiting longer is pointless).
 *
 * The one polling loop of the tests: prefer an event or a log line (RunningServer.waitForOutput)
 * where the code under test gives one, and poll only for state nothing announces.
 */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined>,
  intervalMs = 100,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${String(last)})`}`);
    await sleep(intervalMs, undefined, signal ? { signal } : {}).catch(() => undefined);
  }
}
