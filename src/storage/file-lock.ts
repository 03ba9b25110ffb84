import { close as closeCb, open as openCb, readFile as readFileCb } from 'node:fs';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { publish } from '../diagnostics.ts';
import { MyServerError } from '../errors.ts';
import { DIR_MODE, FILE_MODE, errnoCode, writeAll, writeFileAtomic } from './atomic-file.ts';
import { LockWakers, waitForLock, type LockWaitOptions } from './lock-wait.ts';
import { validateLockName } from './key-path.ts';

/**
 * How long a lock may go without a refresh before others may take it over, and how often a holder
 * refreshes it. The trade-off: the threshold must exceed the longest stall a healthy holder can
 * have (event-loop pauses, a slow network filesystem, a suspended VM) plus the clock skew between
 * hosts sharing the directory, or two holders may both believe they hold the lock; the longer it
 * is, the longer a crash on another host blocks the name. 20s survives three missed refreshes
 * at the 5s interval. A crash on this host needs no waiting: a dead pid frees the lock at once.
 */
export const DEFAULT_LOCK_STALE_MS = 20_000;
export const DEFAULT_LOCK_REFRESH_MS = 5_000;

/** Names longer than this are hashed so the file name stays under NAME_MAX. */
const MAX_ENCODED_NAME = 200;

interface LockInfo {
  readonly pid: number;
  readonly hostname: string;
  readonly created: string;
  readonly updated: string;
  /** Tells this acquisition apart from a later one by the same process, for unlock and takeover. */
  readonly token: string;
}

interface Held {
  readonly info: LockInfo;
  readonly timer: NodeJS.Timeout;
  refreshing: Promise<void>;
}

interface Snapshot {
  readonly content: string;
  readonly mtimeMs: number;
  /** Changes whenever the file is replaced or rewritten. */
  readonly identity: string;
}

/**
 * Lock files in one directory: `<dir>/<encoded name>.lock`, created with O_EXCL, holding the JSON
 * of LockInfo. The holder rewrites `updated` every refresh interval. A lock is stale when `updated`
 * (or, while the file is still empty, its mtime) is older than the stale threshold, or when its
 * hostname is this host's and its pid is not alive. Hosts sharing the directory must have distinct
 * hostnames (and containers sharing a hostname must share a pid namespace), or a live holder in
 * another pid namespace could be judged dead.
 */
export class FileLocks {
  readonly #dir: string;
  readonly #staleMs: number;
  readonly #refreshMs: number;
  readonly #held = new Map<string, Held>();
  readonly #wakers = new LockWakers();

  constructor(dir: string, staleMs: number, refreshMs: number) {
    if (!(refreshMs > 0 && refreshMs < staleMs)) {
      throw new MyServerError('MS_ERR_STORAGE', `lock refresh interval ${refreshMs}ms must be below the stale threshold ${staleMs}ms`);
    }
    this.#dir = dir;
    this.#staleMs = staleMs;
    this.#refreshMs = refreshMs;
  }

  async lock(name: string, options: LockWaitOptions = {}): Promise<void> {
    validateLockName(name);
    const path = this.#pathOf(name);
    try {
      await waitForLock(name, () => this.#tryAcquire(name, path), options, (wake) => this.#wakers.subscribe(name, wake));
    } catch (err) {
      if (err instanceof MyServerError) throw err;
      throw new MyServerError('MS_ERR_STORAGE', `taking lock "${name}" in ${this.#dir}`, { cause: err });
    }
  }

  async unlock(name: string): Promise<void> {
    const held = this.#held.get(name);
    if (held === undefined) return;
    this.#held.delete(name);
    clearInterval(held.timer);
    // A refresh in flight would otherwise rename a fresh lock file back after the unlink.
    await held.refreshing;
    const path = this.#pathOf(name);
    try {
      if ((await readInfo(path))?.token === held.info.token) await unlink(path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') {
        throw new MyServerError('MS_ERR_STORAGE', `releasing lock "${name}" in ${this.#dir}`, { cause: err });
      }
    } finally {
      this.#wakers.wake(name);
    }
  }

  /** Stops every refresh; the lock files stay until unlocked or stale. */
  close(): void {
    for (const held of this.#held.values()) clearInterval(held.timer);
    this.#held.clear();
  }

  #pathOf(name: string): string {
    const encoded = encodeURIComponent(name);
    const file = encoded.length <= MAX_ENCODED_NAME ? encoded : `sha256-${createHash('sha256').update(name).digest('hex')}`;
    return join(this.#dir, `${file}.lock`);
  }

  async #tryAcquire(name: string, path: string): Promise<boolean> {
    // Two attempts: the second follows the removal of a stale lock.
    for (let attempt = 0; attempt < 2; attempt++) {
      const now = new Date().toISOString();
      const info: LockInfo = { pid: process.pid, hostname: hostname(), created: now, updated: now, token: randomUUID() };
      if (await this.#createInDir(path, JSON.stringify(info))) {
        const held: Held = {
          info,
          timer: setInterval(() => {
            held.refreshing = held.refreshing.then(() => this.#refresh(name, path, held));
          }, this.#refreshMs).unref(),
          refreshing: Promise.resolve(),
        };
        this.#held.set(name, held);
        return true;
      }
      if (!(await this.#removeIfStale(path))) return false;
    }
    return false;
  }

  /**
   * createExclusive, making the locks folder only when it is missing (once per process, or after
   * someone removed it) rather than a mkdir round-trip before every acquisition.
   */
  async #createInDir(path: string, content: string): Promise<boolean> {
    try {
      return await createExclusive(path, content);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    await mkdir(this.#dir, { recursive: true, mode: DIR_MODE });
    return createExclusive(path, content);
  }

  /** Rewrites `updated`; never rejects. Stops refreshing if the file is no longer ours. */
  async #refresh(name: string, path: string, held: Held): Promise<void> {
    if (this.#held.get(name) !== held) return;
    try {
      const current = await readInfo(path);
      if (current?.token !== held.info.token) {
        this.#held.delete(name);
        clearInterval(held.timer);
        // It stalled past the stale threshold and another process took the lock.
        publish('my-server:storage:lock-lost', { name, path });
        return;
      }
      await writeFileAtomic(path, JSON.stringify({ ...held.info, updated: new Date().toISOString() }), false);
    } catch {
      // A failed refresh is retried at the next interval; the threshold allows for several misses.
    }
  }

  /**
   * Removes a stale lock file; true when the caller may retry the O_EXCL create.
   * Unlinking what was judged stale is not enough: between the judgement and the unlink another
   * waiter may have removed it and created its own fresh lock, which would then be unlinked too,
   * leaving two holders. So the right to remove one particular stale file (named by its inode,
   * mtime and content, which every refresh changes) is itself an O_EXCL "takeover" file: one
   * waiter wins it, checks the lock file is still that stale one, unlinks it, and drops the
   * takeover file. A takeover file older than the stale threshold belongs to a waiter that died
   * mid-takeover and is removed; only that case, combined with racing waiters, can still misfire.
   */
  async #removeIfStale(path: string): Promise<boolean> {
    const stale = await this.#staleSnapshot(path);
    if (stale === undefined) return false;
    const guard = join(this.#dir, `.${basename(path)}.${stale.identity.slice(0, 16)}.takeover`);
    if (!(await createExclusive(guard, ''))) {
      const age = await fileAge(guard);
      if (age !== undefined && age > this.#staleMs) await unlink(guard).catch(() => undefined);
      return false;
    }
    try {
      if ((await snapshot(path))?.identity !== stale.identity) return false;
      await unlink(path).catch((err: unknown) => {
        if (errnoCode(err) !== 'ENOENT') throw err;
      });
      return true;
    } finally {
      await unlink(guard).catch(() => undefined);
    }
  }

  async #staleSnapshot(path: string): Promise<Snapshot | undefined> {
    const snap = await snapshot(path);
    if (snap === undefined) return undefined;
    const info = parseInfo(snap.content);
    const updated = info === undefined ? snap.mtimeMs : Date.parse(info.updated);
    if (Date.now() - updated > this.#staleMs) return snap;
    if (info !== undefined && info.hostname === hostname() && !processAlive(info.pid)) return snap;
    return undefined;
  }
}

/*
 * Taking and releasing a lock is on every issuance's path: the callback API, promisified, costs
 * less main-thread CPU per call than node:fs/promises' FileHandle (issue 12).
 */
const openFd = promisify(openCb);
const closeFd = promisify(closeCb);
const readText = promisify(readFileCb);

async function createExclusive(path: string, content: string): Promise<boolean> {
  let fd;
  try {
    fd = await openFd(path, 'wx', FILE_MODE);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await writeAll(fd, Buffer.from(content));
  } catch (err) {
    await closeFd(fd);
    await unlink(path).catch(() => undefined);
    throw err;
  }
  await closeFd(fd);
  return true;
}

async function snapshot(path: string): Promise<Snapshot | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    const content = await fh.readFile('utf8');
    const identity = createHash('sha256').update(`${st.ino}:${st.mtimeMs}:${content}`).digest('hex');
    return { content, mtimeMs: st.mtimeMs, identity };
  } finally {
    await fh.close();
  }
}

async function fileAge(path: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

async function readInfo(path: string): Promise<LockInfo | undefined> {
  try {
    return parseInfo(await readText(path, 'utf8'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** undefined for a file still being written (created empty by O_EXCL) or damaged. */
function parseInfo(content: string): LockInfo | undefined {
  try {
    const v: unknown = JSON.parse(content);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o['pid'] !== 'number' || typeof o['hostname'] !== 'string' || typeof o['updated'] !== 'string') return undefined;
    if (Number.isNaN(Date.parse(o['updated']))) return undefined;
    return v as LockInfo;
  } catch {
    return undefined;
  }
}

/** kill(pid, 0) probes without signalling; EPERM means alive but another user's. */
function processAlive(pid: number): boolean {
  // 0 and negative pids address process groups; such a file is judged on its timestamp alone.
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}
