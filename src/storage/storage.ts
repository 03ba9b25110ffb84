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

export interface Storage {
  /** The value, or undefined when the key does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  /** Atomically create or replace. Values are readable only by the owner (files 0600). */
  put(key: string, value: Buffer | string): Promise<void>;
  /** Remove the key; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
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
  /** A human-readable description, e.g. "file:/var/lib/my-server". */
  toString(): string;
}
