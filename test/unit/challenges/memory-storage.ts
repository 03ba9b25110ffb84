/**
 * A Storage in a Map, for challenge tests: two ChallengeStores over one of these behave like two
 * cluster nodes, and `another()` gives a second instance over the same Map, as a second process
 * opening the same file storage would. It passes the storage conformance suite
 * (memory-storage.test.ts), so a test that passes on it is not relying on a shortcut the real
 * storages lack: keys are checked by the same rules, and locks exclude until the holder unlocks.
 */
import { LockWakers, waitForLock } from '../../../src/storage/lock-wait.ts';
import { validateKey, validateLockName, validatePrefix, childOf } from '../../../src/storage/key-path.ts';
import type { Storage, StorageStat } from '../../../src/storage/storage.ts';

/** What instances made by another() share: the values, and which instance holds each lock. */
interface Backing {
  readonly values: Map<string, { value: Buffer; modified: Date }>;
  readonly holders: Map<string, MemoryStorage>;
  /** An unlock wakes the waiters of that name at once, in every instance over this backing. */
  readonly wakers: LockWakers;
}

export class MemoryStorage implements Storage {
  readonly #backing: Backing;
  readonly values: Map<string, { value: Buffer; modified: Date }>;
  /** Counts get() calls, to show which lookups reach storage. */
  gets = 0;
  /** When set, every operation rejects with it (a storage outage). */
  failWith: Error | undefined;

  constructor(backing?: Backing) {
    this.#backing = backing ?? { values: new Map(), holders: new Map(), wakers: new LockWakers() };
    this.values = this.#backing.values;
  }

  /** Another instance over the same values and locks, with counters and faults of its own. */
  another(): MemoryStorage {
    return new MemoryStorage(this.#backing);
  }

  #check(): void {
    if (this.failWith !== undefined) throw this.failWith;
  }

  async get(key: string): Promise<Buffer | undefined> {
    this.#check();
    validateKey(key);
    this.gets++;
    const entry = this.values.get(key);
    // A copy: a caller mutating the Buffer must not change the stored value, as with a real store.
    return entry === undefined ? undefined : Buffer.from(entry.value);
  }

  async put(key: string, value: Buffer | string): Promise<void> {
    this.#check();
    validateKey(key);
    this.values.set(key, { value: Buffer.from(value), modified: new Date() });
  }

  async delete(key: string): Promise<void> {
    this.#check();
    validateKey(key);
    this.values.delete(key);
  }

  async exists(key: string): Promise<boolean> {
    this.#check();
    validateKey(key);
    return this.values.has(key);
  }

  async list(prefix: string, recursive = false): Promise<string[]> {
    this.#check();
    const base = validatePrefix(prefix);
    const out = new Set<string>();
    for (const key of this.values.keys()) {
      if (base !== '' && !key.startsWith(`${base}/`)) continue;
      out.add(recursive ? key : childOf(base, key));
    }
    return [...out].sort();
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    this.#check();
    validateKey(key);
    const entry = this.values.get(key);
    return entry === undefined ? undefined : { size: entry.value.length, modified: entry.modified };
  }

  async lock(name: string, options: { signal?: AbortSignal | undefined; timeoutMs?: number } = {}): Promise<void> {
    this.#check();
    validateLockName(name);
    const { holders, wakers } = this.#backing;
    const tryAcquire = async (): Promise<boolean> => {
      if (holders.has(name)) return false;
      holders.set(name, this);
      return true;
    };
    await waitForLock(name, tryAcquire, options, (listener) => wakers.subscribe(name, listener));
  }

  async unlock(name: string): Promise<void> {
    this.#check();
    validateLockName(name);
    const { holders, wakers } = this.#backing;
    // Only the holder releases: an unlock from another instance is a no-op, as with a lock file.
    if (holders.get(name) !== this) return;
    holders.delete(name);
    wakers.wake(name);
  }

  toString(): string {
    return 'memory';
  }
}
