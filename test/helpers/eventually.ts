import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `fn` every `intervalMs` until it returns a value other than undefined, for at most `timeoutMs`.
 * A rejection counts as "not yet"; the last one is named in the error thrown at the deadline,
 * `WHAT: not within N ms (last error: …)`.
 */
export async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${String(last)})`}`);
    await sleep(intervalMs);
  }
}
