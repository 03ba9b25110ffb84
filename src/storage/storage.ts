import type { StorageState } from './availability.ts';

export type { StorageState } from './availability.ts';

/**
 * Storage keeps keys, certificates, accounts, challenge state and locks. It knows nothing of
 * certificates: values are opaque bytes under '/'-separated keys ("certificates/acme-v02.x/a.test/a.test.crt").
 * The key layout lives in ONE module, src/certs/keys.ts.
 *
 * Implementations MUST be safe for concurrent use, within a process and across processes that share
 * the same backing store. `put` is atomic: a reader sees the old value or the new one, never a mix,
 * and a crash at any point leaves the old value or the new one.
 */
export interface StorageStat {
  readonly size: number;
  readonly modified: Date;
}

/**
 * Proof that a write is made by the current holder of a lock: `token` is what `fence(lock)` gave
 * right after `lock(lock)`. Tokens of one lock only grow, one per acquisition, so a holder paused
 * past its lease (GC, SIGSTOP, a partition) carries a token older than the holder that took over.
 */
export interface Fence {
  readonly lock: string;
  readonly token: number;
}

export interface WriteOptions {
  /**
   * Write only if no newer holder has taken each of these locks since; otherwise reject with
   * FencedWriteError (fenced.ts) and change nothing. Storages without fencing tokens
   * (files) ignore it.
   */
  readonly fence?: Fence | readonly Fence[] | undefined;
  /**
   * None of the keys exists: the caller checked, under a lock every writer of them takes. A hint,
   * not a condition: a storage that keeps keys in folders makes the folders before writing rather
   * than after a write failed for want of one (a new certificate's three parts: three failed
   * opens fewer, issue 12). Wrong, it costs only a mkdir that finds the folder there.
   */
  readonly absent?: boolean | undefined;
}

export interface Storage {
  /** The value, or undefined when the key does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  /** Atomically create or replace. Values are readable only by the owner (files 0600). */
  put(key: string, value: Buffer | string, options?: WriteOptions): Promise<void>;
  /**
   * Put several values, each atomically as put() does, all durable once it resolves. Not a
   * transaction: until it resolves, readers and a crash may see any subset of them written (each
   * value old or new, never a mix), in any order. So it is only for values where every subset is
   * safe (the certificate store's parts, which it accepts only all together and consistent).
   * Optional: a storage that gains nothing from batching leaves it out, and callers put one by one.
   */
  putAll?(entries: readonly (readonly [key: string, value: Buffer | string])[], options?: WriteOptions): Promise<void>;
  /** Remove the key; removing a missing key is not an error. */
  delete(key: string, options?: WriteOptions): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Keys below `prefix` (a '/'-separated folder), sorted; recursive lists every depth. Missing prefix: []. */
  list(prefix: string, recursive?: boolean): Promise<string[]>;
  stat(key: string): Promise<StorageStat | undefined>;
  /**
   * Take the named lock, waiting while another holder (in any process) has it. A lock whose holder
   * died or stopped refreshing it expires, so a crash never blocks the name for ever.
   * Rejects with MS_ERR_ABORTED when `signal` aborts, MS_ERR_LOCK_TIMEOUT after `timeoutMs`.
   */
  lock(name: string, options?: { signal?: AbortSignal | undefined; timeoutMs?: number }): Promise<void>;
  /** Release a lock this instance holds; releasing a lock not held is a no-op. */
  unlock(name: string): Promise<void>;
  /**
   * The fencing token of the lock `name` as this instance holds it, for WriteOptions.fence;
   * undefined when not held or when the storage has no tokens. Optional: wrappers and storages
   * without fencing leave it out, and their writes go unfenced as before.
   */
  fence?(name: string): Fence | undefined;
  /**
   * Tell every instance sharing this storage (this one included) that `key` changed. Best effort:
   * a lost message is made up for by whoever polls. Optional: a storage with no channel between
   * instances (files) leaves it out.
   */
  publishChange?(key: string): Promise<void>;
  /** Call `listener` with each key published by publishChange; returns the unsubscribe. */
  onChange?(listener: (key: string) => void): () => void;
  /**
   * Whether the storage can be reached now. Optional: a storage that cannot tell (files: a disk
   * failure shows as a failed call) leaves it out and counts as up.
   */
  state?(): StorageState;
  /**
   * Call `listener` at each change of state() (down, and up again), so work that failed for want
   * of storage is resumed when it returns; returns the unsubscribe.
   */
  onStateChange?(listener: (state: StorageState) => void): () => void;
  /** A human-readable description, e.g. "file:/var/lib/my-server". */
  toString(): string;
}
