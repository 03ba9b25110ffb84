import type { Storage, StorageStat, WriteOptions } from '../../src/storage/storage.ts';

/**
 * A Storage that hands every call to a real one. Fault injectors extend it and override only the
 * calls they break (a crash from the Nth write on, a failing put, a slow lock), so the rest stays
 * the real storage's behaviour.
 */
export class DelegatingStorage implements Storage {
  protected readonly inner: Storage;

  constructor(inner: Storage) {
    this.inner = inner;
  }

  get(key: string): Promise<Buffer | undefined> {
    return this.inner.get(key);
  }
  put(key: string, value: Buffer | string, options?: WriteOptions): Promise<void> {
    return this.inner.put(key, value, options);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  exists(key: string): Promise<boolean> {
    return this.inner.exists(key);
  }
  list(prefix: string, recursive?: boolean): Promise<string[]> {
    return this.inner.list(prefix, recursive);
  }
  stat(key: string): Promise<StorageStat | undefined> {
    return this.inner.stat(key);
  }
  lock(name: string, options?: { signal?: AbortSignal | undefined; timeoutMs?: number }): Promise<void> {
    return this.inner.lock(name, options);
  }
  unlock(name: string): Promise<void> {
    return this.inner.unlock(name);
  }
  toString(): string {
    return this.inner.toString();
  }
}
