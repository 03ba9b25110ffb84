/** A Storage in a Map, for challenge tests: two ChallengeStores over one of these behave like two cluster nodes. */
import type { Storage, StorageStat } from '../../../src/storage/storage.ts';

export class MemoryStorage implements Storage {
  readonly values = new Map<string, { value: Buffer; modified: Date }>();
  /** Counts get() calls, to show which lookups reach storage. */
  gets = 0;
  /** When set, every operation rejects with it (a storage outage). */
  failWith: Error | undefined;

  #check(): void {
    if (this.failWith !== undefined) throw this.failWith;
  }

  async get(key: string): Promise<Buffer | undefined> {
    this.#check();
    this.gets++;
    return this.values.get(key)?.value;
  }

  async put(key: string, value: Buffer | string): Promise<void> {
    this.#check();
    this.values.set(key, { value: Buffer.from(value), modified: new Date() });
  }

  async delete(key: string): Promise<void> {
    this.#check();
    this.values.delete(key);
  }

  async exists(key: string): Promise<boolean> {
    this.#check();
    return this.values.has(key);
  }

  async list(prefix: string, recursive = false): Promise<string[]> {
    this.#check();
    const base = prefix === '' ? '' : `${prefix.replace(/\/$/, '')}/`;
    const out = new Set<string>();
    for (const key of this.values.keys()) {
      if (!key.startsWith(base)) continue;
      const rest = key.slice(base.length);
      out.add(recursive || !rest.includes('/') ? key : base + rest.slice(0, rest.indexOf('/')));
    }
    return [...out].sort();
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    this.#check();
    const entry = this.values.get(key);
    return entry === undefined ? undefined : { size: entry.value.length, modified: entry.modified };
  }

  async lock(): Promise<void> {
    this.#check();
  }

  async unlock(): Promise<void> {}

  toString(): string {
    return 'memory';
  }
}
