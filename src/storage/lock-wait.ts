import { MyServerError } from '../errors.ts';
import { sleep } from '../util/backoff.ts';

/**
 * Poll intervals while another holder has a lock. A lock is held for the few seconds an ACME order
 * takes, or ~10 ms for a local-CA certificate (issue 12), so the first retries are quick; the cap
 * keeps a crowd of waiters (one per cluster node) from hammering a shared disk or Redis while a
 * long issuance runs. Jitter spreads the waiters. Waiters in the holder's own process do not poll:
 * its unlock wakes them (LockWakers).
 */
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 1_000;

export interface LockWaitOptions {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
}

/**
 * Calls `tryAcquire` until it returns true, sleeping with a capped exponential backoff in between.
 * `wake` (when given) lets an in-process unlock cut a sleep short. Rejects with MS_ERR_ABORTED when
 * `signal` aborts and with MS_ERR_LOCK_TIMEOUT once `timeoutMs` has passed without success.
 */
export async function waitForLock(
  name: string,
  tryAcquire: () => Promise<boolean>,
  options: LockWaitOptions,
  wake?: (listener: () => void) => () => void,
): Promise<void> {
  const { signal, timeoutMs } = options;
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let delay = FIRST_POLL_MS;
  for (;;) {
    throwIfAborted(name, signal);
    if (await tryAcquire()) return;
    throwIfAborted(name, signal);
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new MyServerError('MS_ERR_LOCK_TIMEOUT', `waiting for lock "${name}": still held after ${timeoutMs}ms`);
    }
    const jittered = delay / 2 + Math.random() * (delay / 2);
    await sleep(Math.min(jittered, left), signal, wake).catch(() => throwIfAborted(name, signal));
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }
}

function throwIfAborted(name: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new MyServerError('MS_ERR_ABORTED', `waiting for lock "${name}": aborted`, { cause: signal.reason });
  }
}

/**
 * In-process wake-ups for lock waiters, per storage instance: an unlock wakes the waiters of that
 * name at once instead of leaving them to their next poll. Waiters in other processes still poll.
 */
export class LockWakers {
  readonly #listeners = new Map<string, Set<() => void>>();

  subscribe(name: string, listener: () => void): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener);
    return () => {
      const current = this.#listeners.get(name);
      current?.delete(listener);
      if (current?.size === 0) this.#listeners.delete(name);
    };
  }

  wake(name: string): void {
    for (const listener of [...(this.#listeners.get(name) ?? [])]) listener();
  }
}
