/**
 * One in-flight promise per key: callers asking for a key that is already being worked on share
 * the same promise instead of starting the work again. Kept on an instance, never module state.
 */
export class SingleFlight<T> {
  readonly #inflight = new Map<string, Promise<T>>();

  do(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.#inflight.get(key);
    if (existing) return existing;
    // fn runs inside the async wrapper, so even a synchronous throw becomes a rejection that is
    // removed from the map after it was set.
    const p = (async () => fn())().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  has(key: string): boolean {
    return this.#inflight.has(key);
  }
}
