import type { Storage } from './storage.ts';
import { FileStorage } from './file-storage.ts';

export type { Storage, StorageStat } from './storage.ts';
export { FileStorage, defaultStoragePath, type FileStorageOptions } from './file-storage.ts';
export type { RedisStorageOptions } from './redis-storage.ts';

/** What createStorage returns: close() stops lock refreshes and, for Redis, disconnects. */
export type ClosableStorage = Storage & { close(): Promise<void> };

export type StorageSpec =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'redis'; readonly url: string; readonly prefix?: string | undefined };

/**
 * The Storage a config asks for, ready to use: a Redis storage is connected (and rejects with
 * MS_ERR_STORAGE when the server cannot be reached); a file storage creates its folder on first put.
 * The caller owns the result and closes it.
 */
export async function createStorage(spec: StorageSpec): Promise<ClosableStorage> {
  switch (spec.kind) {
    case 'file':
      return new FileStorage(spec.path);
    case 'redis': {
      // Loaded only when asked for: the Redis client costs ~30 MB of memory that file storage never needs.
      const { RedisStorage } = await import('./redis-storage.ts');
      const storage = new RedisStorage({ url: spec.url, prefix: spec.prefix });
      await storage.connect();
      return storage;
    }
  }
}
