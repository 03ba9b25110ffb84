import { readFile as readFileCb, stat as statCb } from 'node:fs';
import { mkdir, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { promisify } from 'node:util';
import { dirname, join, resolve, sep } from 'node:path';
import { MyServerError } from '../errors.ts';
import type { Storage, StorageStat, WriteOptions } from './storage.ts';
import { DIR_MODE, errnoCode, isTempFile, syncDir, writeFileAtomic } from './atomic-file.ts';
import { DEFAULT_LOCK_REFRESH_MS, DEFAULT_LOCK_STALE_MS, FileLocks } from './file-lock.ts';
import { LOCKS_FOLDER, validateKey, validatePrefix } from './key-path.ts';

/**
 * A temp file this old belongs to a writer that died (a put takes milliseconds), so list() removes
 * it. Younger ones may belong to a put in flight in another process and are left alone.
 */
const ORPHAN_TEMP_AGE_MS = 60_000;

/**
 * The callback readFile, promisified: ~40% less CPU per small file than node:fs/promises' (no
 * FileHandle), and a certificate load reads three (issue 12).
 */
const readFile = promisify(readFileCb);
/** Likewise for stat: a save checks four keys' existence, a load one. */
const statPath = promisify(statCb);

/** A put racing a delete that prunes the same folder retries this many times. */
const PUT_ATTEMPTS = 3;

export interface FileStorageOptions {
  /** See DEFAULT_LOCK_STALE_MS for the trade-off. */
  readonly lockStaleMs?: number | undefined;
  readonly lockRefreshMs?: number | undefined;
}

/**
 * Storage in a directory tree, safe to share between processes and hosts (over a filesystem with
 * atomic rename and O_EXCL, so not every network filesystem).
 *
 * Layout: the key "a/b/c" is the file `<root>/a/b/c`; locks are `<root>/locks/<name>.lock` (the
 * `locks` folder is reserved, see key-path.ts); temp files are `.<name>.<pid>.<random>.tmp`
 * beside their target. Files are 0600 and folders 0700. A key cannot also be a folder: putting
 * "a/b" when "a" holds a value fails.
 *
 * put() is atomic and durable (temp file, fsync, rename, fsync of the folder). A crash leaves
 * at most a temp file, which reads never see and list() removes once it is old. delete() removes
 * folders it leaves empty, so list() shows the same folders as a store without folders (Redis).
 */
export class FileStorage implements Storage {
  readonly root: string;
  readonly #locks: FileLocks;

  constructor(root: string, options: FileStorageOptions = {}) {
    this.root = resolve(root);
    this.#locks = new FileLocks(
      join(this.root, LOCKS_FOLDER),
      options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS,
      options.lockRefreshMs ?? DEFAULT_LOCK_REFRESH_MS,
    );
  }

  async get(key: string): Promise<Buffer | undefined> {
    const path = this.#pathOf(validateKey(key));
    try {
      return await readFile(path);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.#error(`reading "${key}"`, err);
    }
  }

  /**
   * WriteOptions.fence is not taken: file locks hand out no fencing tokens (no `fence()`), so
   * callers pass none. A check of the lock file before the rename could not be atomic with it;
   * on one host a stalled holder is rare and the 20 s stale threshold is the guard. Shared
   * storage across hosts with fencing is Redis (docs/clustering.md).
   */
  async put(key: string, value: Buffer | string, options: WriteOptions = {}): Promise<void> {
    const path = this.#pathOf(validateKey(key));
    const dir = dirname(path);
    // The folder usually exists (a certificate's four puts share one): write first and make the
    // folders only when the temp file's open says ENOENT, which saves a mkdir round-trip per put;
    // unless the caller says the key is new (WriteOptions.absent), when the folder likely is too.
    for (let attempt = options.absent === true ? 2 : 1; ; attempt++) {
      try {
        if (attempt > 1) await this.#makeDirs(dir);
        await writeFileAtomic(path, value);
        return;
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' && attempt <= PUT_ATTEMPTS) continue;
        throw this.#error(`writing "${key}"`, err);
      }
    }
  }

  /**
   * Each value written as put() writes it (temp file, fsync, rename), all at once, then each folder
   * they went into fsynced once instead of once per value: a certificate's three parts cost one
   * folder sync, not three. Until it resolves a crash may leave any subset of the values renamed
   * into place (each complete, never partial); see Storage.putAll.
   */
  async putAll(entries: readonly (readonly [key: string, value: Buffer | string])[], options: WriteOptions = {}): Promise<void> {
    const items = entries.map(([key, value]) => ({ key, path: this.#pathOf(validateKey(key)), value }));
    const dirs = [...new Set(items.map((i) => dirname(i.path)))];
    const what = (): string => `writing ${items.map((i) => `"${i.key}"`).join(', ')}`;
    // As in put: folders first when the keys are new, after a failed open otherwise.
    for (let attempt = options.absent === true ? 2 : 1; ; attempt++) {
      try {
        if (attempt > 1) for (const d of dirs) await this.#makeDirs(d);
        // allSettled: a retry must not race the first attempt's writes still in flight.
        const results = await Promise.allSettled(items.map((i) => writeFileAtomic(i.path, i.value, true, false)));
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        break;
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' && attempt <= PUT_ATTEMPTS) continue;
        throw this.#error(what(), err);
      }
    }
    try {
      await Promise.all(dirs.map((d) => syncDir(d)));
    } catch (err) {
      throw this.#error(what(), err);
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.#pathOf(validateKey(key));
    try {
      await unlink(path);
      await syncDir(dirname(path));
    } catch (err) {
      if (isMissing(err)) return;
      throw this.#error(`deleting "${key}"`, err);
    }
    await this.#pruneEmptyDirs(dirname(path));
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    const path = this.#pathOf(validateKey(key));
    try {
      const st = await statPath(path);
      return st.isFile() ? { size: st.size, modified: st.mtime } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.#error(`reading the status of "${key}"`, err);
    }
  }

  async list(prefix: string, recursive = false): Promise<string[]> {
    const folder = validatePrefix(prefix);
    try {
      const keys = await this.#listDir(folder, recursive);
      return keys.sort();
    } catch (err) {
      throw this.#error(`listing "${prefix}"`, err);
    }
  }

  lock(name: string, options?: { signal?: AbortSignal | undefined; timeoutMs?: number }): Promise<void> {
    return this.#locks.lock(name, options);
  }

  unlock(name: string): Promise<void> {
    return this.#locks.unlock(name);
  }

  /**
   * Stops refreshing held locks; it releases none. They go stale after the stale threshold, as if
   * this process had stalled, so unlock first when another process should take over at once.
   */
  async close(): Promise<void> {
    this.#locks.close();
  }

  toString(): string {
    return `file:${this.root}`;
  }

  #pathOf(key: string): string {
    return key === '' ? this.root : join(this.root, ...key.split('/'));
  }

  /** Folders below `folder` ('' is the root) as keys; missing or not a folder: []. */
  async #listDir(folder: string, recursive: boolean): Promise<string[]> {
    const dir = this.#pathOf(folder);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    const keys: string[] = [];
    for (const entry of entries) {
      // Temp files, stale-lock leftovers and anything else starting with '.' is not a key.
      if (entry.name.startsWith('.')) {
        if (isTempFile(entry.name)) await removeIfOrphaned(join(dir, entry.name));
        continue;
      }
      if (folder === '' && entry.name === LOCKS_FOLDER) continue;
      const key = folder === '' ? entry.name : `${folder}/${entry.name}`;
      if (entry.isDirectory()) {
        if (recursive) keys.push(...(await this.#listDir(key, true)));
        else keys.push(key);
      } else if (entry.isFile()) {
        keys.push(key);
      }
    }
    return keys;
  }

  /** mkdir -p at 0700, then fsync the parents of new folders so their entries survive a crash. */
  async #makeDirs(dir: string): Promise<void> {
    // Usually only the last folder is missing (a new certificate's name): one plain mkdir, which
    // costs far less than the recursive walk (issue 12's profile: ~0.7 ms of CPU per new name).
    try {
      await mkdir(dir, { mode: DIR_MODE });
      await syncDir(dirname(dir));
      return;
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return;
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    const first = await mkdir(dir, { recursive: true, mode: DIR_MODE });
    if (first === undefined) return;
    for (let d = dir; ; d = dirname(d)) {
      await syncDir(dirname(d));
      if (d === first) break;
    }
  }

  /** rmdir fails on a folder that is not empty, which is what stops the walk; best effort. */
  async #pruneEmptyDirs(dir: string): Promise<void> {
    for (let d = dir; d !== this.root && d.startsWith(this.root + sep); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return;
      }
    }
  }

  #error(doing: string, cause: unknown): MyServerError {
    return new MyServerError('MS_ERR_STORAGE', `${doing} in ${this.root}`, { cause });
  }
}

function isMissing(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

async function removeIfOrphaned(path: string): Promise<void> {
  try {
    const st = await stat(path);
    if (Date.now() - st.mtimeMs > ORPHAN_TEMP_AGE_MS) await unlink(path);
  } catch {
    // Gone already, or renamed into place by its writer meanwhile.
  }
}

/**
 * The default storage folder (SPEC.md): `$XDG_DATA_HOME/my-server` when set to an absolute path,
 * else `/var/lib/my-server` for root (a system service), else `~/.local/share/my-server`.
 */
export function defaultStoragePath(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.getuid?.(),
  home: string = homedir(),
): string {
  const xdg = env['XDG_DATA_HOME'];
  if (xdg !== undefined && xdg.startsWith('/')) return join(xdg, 'my-server');
  if (uid === 0) return '/var/lib/my-server';
  return join(home, '.local', 'share', 'my-server');
}
