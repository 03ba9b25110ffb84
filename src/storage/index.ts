import { readFile } from 'node:fs/promises';
import { MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from './storage.ts';
import { FileStorage } from './file-storage.ts';

export type { Storage, StorageStat, StorageState } from './storage.ts';
export { FileStorage, defaultStoragePath, type FileStorageOptions } from './file-storage.ts';
export type { RedisStorageOptions } from './redis-storage.ts';

/** What createStorage returns: close() stops lock refreshes and, for Redis, disconnects. */
export type ClosableStorage = Storage & { close(): Promise<void> };

export type StorageSpec =
  | { readonly kind: 'file'; readonly path: string }
  | {
      readonly kind: 'redis';
      readonly url: string;
      readonly prefix?: string | undefined;
      /** A lock's lease; default redis-storage.ts DEFAULT_LOCK_TTL_MS. */
      readonly lockTtlMs?: number | undefined;
      /** The longest a connection or a command waits; default redis-storage.ts DEFAULT_TIMEOUT_MS. */
      readonly timeoutMs?: number | undefined;
      /** A PEM file of the CAs trusted for a rediss:// server's certificate. */
      readonly tlsCaFile?: string | undefined;
    };

export interface CreateStorageOptions {
  /** Where a Redis storage logs becoming unavailable and available again. */
  readonly log?: Logger | undefined;
}

/**
 * The Storage a config asks for, ready to use: a Redis storage is connected (and rejects with
 * MS_ERR_STORAGE when the server cannot be reached); a file storage creates its folder on first put.
 * The caller owns the result and closes it.
 */
export async function createStorage(spec: StorageSpec, options: CreateStorageOptions = {}): Promise<ClosableStorage> {
  switch (spec.kind) {
    case 'file':
      return new FileStorage(spec.path);
    case 'redis': {
      let tlsCa: string | undefined;
      if (spec.tlsCaFile !== undefined) {
        try {
          tlsCa = await readFile(spec.tlsCaFile, 'utf8');
        } catch (err) {
          throw new MyServerError('MS_ERR_CONFIG', `storage redis: reading tls_server_certs_path ${spec.tlsCaFile}`, { cause: err });
        }
      }
      // Loaded only when asked for: the Redis client is memory that file storage never needs
      // (measured in docs/design.md "Redis storage: outages, health, loading on demand").
      const { RedisStorage } = await import('./redis-storage.ts');
      const storage = new RedisStorage({
        url: spec.url,
        prefix: spec.prefix,
        lockTtlMs: spec.lockTtlMs,
        timeoutMs: spec.timeoutMs,
        tlsCa,
        log: options.log,
      });
      await storage.connect();
      return storage;
    }
  }
}
