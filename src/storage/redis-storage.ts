import { randomUUID } from 'node:crypto';
import { publish } from '../diagnostics.ts';
import { createClient, RESP_TYPES } from '@redis/client';
import { MyServerError } from '../errors.ts';
import type { Fence, Storage, StorageStat, WriteOptions } from './storage.ts';
import { FencedWriteError, fencesOf } from './fenced.ts';
import { LockWakers, waitForLock } from './lock-wait.ts';
import { childOf, validateKey, validateLockName, validatePrefix } from './key-path.ts';

/**
 * A lock's time to live without a refresh; the holder extends it every third of that. The same
 * trade-off as file locks (file-lock.ts): long enough to ride out a stalled holder, short enough
 * that a crashed one blocks the name only briefly. Redis keeps the clock, so skew between hosts
 * does not matter here.
 */
export const DEFAULT_LOCK_TTL_MS = 20_000;

/** Reconnect delays once connected; the first connect gives up instead, see connect(). */
const RECONNECT_MAX_MS = 3_000;
const INITIAL_CONNECT_RETRIES = 3;

/**
 * Takes the lease and hands out the next fencing token in one step, so no holder ever gets a token
 * older than one handed out before it. KEYS: lock, fence counter. ARGV: owner id, TTL ms.
 * Returns the token, or 0 when the lock is held.
 */
const LOCK_SCRIPT = `if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('incr', KEYS[2]) end return 0`;
/**
 * The fence check shared by the write scripts: KEYS[FIRST..] are fence counters, ARGV[TOKENS..]
 * the tokens the writer holds, in the same order. A counter above the writer's token means a newer
 * holder exists: the script returns {index, current} before touching anything.
 */
const FENCE_CHECK = (firstKey: number, firstToken: number): string =>
  `for i = ${firstKey}, #KEYS do local cur = tonumber(redis.call('get', KEYS[i]) or '0') ` +
  `if cur > tonumber(ARGV[i - ${firstKey} + ${firstToken}]) then return {i - ${firstKey}, cur} end end `;
/** KEYS: data, index, fence counters… ARGV: value, modified ms, key, tokens… Returns {} when written. */
const FENCED_PUT_SCRIPT =
  FENCE_CHECK(3, 4) + `redis.call('hset', KEYS[1], 'v', ARGV[1], 'm', ARGV[2]) redis.call('zadd', KEYS[2], 0, ARGV[3]) return {}`;
/** KEYS: data, index, fence counters… ARGV: key, tokens… Returns {} when deleted (or absent). */
const FENCED_DELETE_SCRIPT = FENCE_CHECK(3, 2) + `redis.call('del', KEYS[1]) redis.call('zrem', KEYS[2], ARGV[1]) return {}`;
/** Extends the TTL only if the lock still holds our token. */
const REFRESH_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;
/** Deletes the lock only if it still holds our token, so a late unlock never frees another's lock. */
const UNLOCK_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

export interface RedisStorageOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// */
  readonly url: string;
  /** Namespace of every Redis key this storage uses, so several deployments can share a server. */
  readonly prefix?: string | undefined;
  readonly lockTtlMs?: number | undefined;
}

function createBinaryClient(url: string, reconnectStrategy: (retries: number, cause: Error) => number | Error) {
  // Values come back as Buffers, so binary data survives; keys and tokens are converted by hand.
  return createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy } }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer,
  });
}

interface Held {
  /** Who holds the lock: compared by refresh and unlock, so they never touch another's lease. */
  readonly token: string;
  /** The fencing token this acquisition got. */
  readonly fence: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * Storage in one Redis server (not Redis Cluster: a put updates two keys in one MULTI).
 *
 * Layout under the prefix P: `P:data:<key>` is a hash { v: value bytes, m: modified time in ms };
 * `P:keys` is a sorted set of every key, all with score 0, so list() is a ZRANGE BYLEX over the
 * range "<prefix>/" … "<prefix>/\xff" (0xff never occurs in UTF-8): sorted, proportional to the
 * answer, and free of glob escaping, where SCAN MATCH would walk the whole database and return
 * keys unsorted. Data hash and index change together in MULTI/EXEC, so they never disagree.
 * `P:lock:<name>` is a lock: SET NX PX with a random owner id, extended while held, deleted by a
 * compare-and-delete script. `P:fence:<name>` counts the lock's acquisitions (INCR in the script
 * that takes the lease); the count is the fencing token of the current holder, and a write fenced
 * with a lower one is refused by the script that would write it (docs/clustering.md).
 * `P:changes` is the pub/sub channel of publishChange (a second connection subscribes on demand).
 *
 * While the connection is down, calls fail at once with MS_ERR_STORAGE instead of queueing;
 * the client reconnects in the background.
 */
export class RedisStorage implements Storage {
  readonly #url: string;
  readonly #prefix: string;
  readonly #lockTtlMs: number;
  readonly #client: ReturnType<typeof createBinaryClient>;
  readonly #held = new Map<string, Held>();
  readonly #wakers = new LockWakers();
  readonly #changeListeners = new Set<(key: string) => void>();
  #subscriber: ReturnType<typeof createBinaryClient> | undefined;
  #everConnected = false;

  constructor(options: RedisStorageOptions) {
    this.#url = options.url;
    this.#prefix = options.prefix ?? 'my-server';
    this.#lockTtlMs = options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
    this.#client = createBinaryClient(this.#url, (retries, cause) => {
      if (!this.#everConnected && retries >= INITIAL_CONNECT_RETRIES) return cause;
      return Math.min(100 * 2 ** retries, RECONNECT_MAX_MS);
    });
    // Without a listener an 'error' event would crash the process; failures reach callers anyway.
    this.#client.on('error', () => undefined);
  }

  /** Connects, giving up with MS_ERR_STORAGE when the server cannot be reached after a few tries. */
  async connect(): Promise<void> {
    try {
      await this.#client.connect();
      this.#everConnected = true;
    } catch (err) {
      if (this.#client.isOpen) this.#client.destroy();
      throw this.#error('connecting', err);
    }
  }

  /**
   * Stops refreshing held locks and closes the connection. Locks still held are not released:
   * they expire after their TTL, so unlock first when another node should take over at once.
   */
  async close(): Promise<void> {
    for (const held of this.#held.values()) clearInterval(held.timer);
    this.#held.clear();
    this.#changeListeners.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber?.isOpen === true) await subscriber.close();
    if (this.#client.isOpen) await this.#client.close();
  }

  async get(key: string): Promise<Buffer | undefined> {
    const dataKey = this.#dataKey(validateKey(key));
    try {
      return (await this.#client.hGet(dataKey, 'v')) ?? undefined;
    } catch (err) {
      throw this.#error(`reading "${key}"`, err);
    }
  }

  async put(key: string, value: Buffer | string, options?: WriteOptions): Promise<void> {
    const dataKey = this.#dataKey(validateKey(key));
    const fences = fencesOf(options);
    if (fences.length > 0) {
      await this.#fenced(key, fences, `writing "${key}"`, FENCED_PUT_SCRIPT, [value, String(Date.now()), key]);
      return;
    }
    try {
      await this.#client
        .multi()
        .hSet(dataKey, { v: value, m: String(Date.now()) })
        .zAdd(this.#indexKey(), { score: 0, value: key })
        .exec();
    } catch (err) {
      throw this.#error(`writing "${key}"`, err);
    }
  }

  async delete(key: string, options?: WriteOptions): Promise<void> {
    const dataKey = this.#dataKey(validateKey(key));
    const fences = fencesOf(options);
    if (fences.length > 0) {
      await this.#fenced(key, fences, `deleting "${key}"`, FENCED_DELETE_SCRIPT, [key]);
      return;
    }
    try {
      await this.#client.multi().del(dataKey).zRem(this.#indexKey(), key).exec();
    } catch (err) {
      throw this.#error(`deleting "${key}"`, err);
    }
  }

  async exists(key: string): Promise<boolean> {
    const dataKey = this.#dataKey(validateKey(key));
    try {
      return (await this.#client.exists(dataKey)) === 1;
    } catch (err) {
      throw this.#error(`checking "${key}"`, err);
    }
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    const dataKey = this.#dataKey(validateKey(key));
    let replies;
    try {
      replies = await this.#client.multi().hStrLen(dataKey, 'v').hGet(dataKey, 'm').exec();
    } catch (err) {
      throw this.#error(`reading the status of "${key}"`, err);
    }
    // Replies inside MULTI skip the client's type mapping: the time may come back as a string.
    const [size, modified] = replies;
    if (typeof size !== 'number' || modified === null || modified === undefined) return undefined;
    return { size, modified: new Date(Number(String(modified))) };
  }

  async list(prefix: string, recursive = false): Promise<string[]> {
    const folder = validatePrefix(prefix);
    const [min, max] =
      folder === ''
        ? ['-', '+']
        : [Buffer.from(`[${folder}/`), Buffer.concat([Buffer.from(`[${folder}/`), Buffer.from([0xff])])];
    let members;
    try {
      members = await this.#client.zRange(this.#indexKey(), min, max, { BY: 'LEX' });
    } catch (err) {
      throw this.#error(`listing "${prefix}"`, err);
    }
    const keys = members.map((m) => m.toString('utf8'));
    if (recursive) return keys.sort();
    return [...new Set(keys.map((k) => childOf(folder, k)))].sort();
  }

  async lock(name: string, options: { signal?: AbortSignal | undefined; timeoutMs?: number } = {}): Promise<void> {
    validateLockName(name);
    try {
      await waitForLock(name, () => this.#tryLock(name), options, (wake) => this.#wakers.subscribe(name, wake));
    } catch (err) {
      if (err instanceof MyServerError) throw err;
      throw this.#error(`taking lock "${name}"`, err);
    }
  }

  async unlock(name: string): Promise<void> {
    const held = this.#held.get(name);
    if (held === undefined) return;
    this.#held.delete(name);
    clearInterval(held.timer);
    try {
      await this.#client.eval(UNLOCK_SCRIPT, { keys: [this.#lockKey(name)], arguments: [held.token] });
    } catch (err) {
      throw this.#error(`releasing lock "${name}"`, err);
    } finally {
      this.#wakers.wake(name);
    }
  }

  fence(name: string): Fence | undefined {
    const held = this.#held.get(name);
    return held === undefined ? undefined : { lock: name, token: held.fence };
  }

  async publishChange(key: string): Promise<void> {
    try {
      await this.#client.publish(this.#changesChannel(), validateKey(key));
    } catch (err) {
      throw this.#error(`publishing a change of "${key}"`, err);
    }
  }

  /**
   * The subscription needs a connection of its own (a subscribed connection runs no other
   * command); it is opened by the first listener and reconnects, resubscribing, like the main one.
   */
  onChange(listener: (key: string) => void): () => void {
    this.#changeListeners.add(listener);
    if (this.#subscriber === undefined) {
      const subscriber = this.#client.duplicate();
      subscriber.on('error', () => undefined);
      this.#subscriber = subscriber;
      subscriber
        .connect()
        .then(() =>
          subscriber.subscribe(this.#changesChannel(), (message: Buffer | string) => {
            const key = message.toString();
            for (const l of [...this.#changeListeners]) l(key);
          }),
        )
        .catch(() => {
          // Only when closed before it connected (the reconnect strategy retries otherwise);
          // polling finds changes without pushes anyway.
        });
    }
    return () => {
      this.#changeListeners.delete(listener);
    };
  }

  toString(): string {
    return `redis:${redactUrl(this.#url)} prefix "${this.#prefix}"`;
  }

  async #tryLock(name: string): Promise<boolean> {
    const token = randomUUID();
    const fence = Number(
      await this.#client.eval(LOCK_SCRIPT, { keys: [this.#lockKey(name), this.#fenceKey(name)], arguments: [token, String(this.#lockTtlMs)] }),
    );
    if (!(fence > 0)) return false;
    const timer = setInterval(() => void this.#refresh(name, token), Math.max(1, Math.floor(this.#lockTtlMs / 3)));
    this.#held.set(name, { token, fence, timer: timer.unref() });
    return true;
  }

  /** Runs a fenced write script; throws FencedWriteError when it refused. */
  async #fenced(key: string, fences: readonly Fence[], doing: string, script: string, args: (Buffer | string)[]): Promise<void> {
    for (const f of fences) validateLockName(f.lock);
    let reply;
    try {
      reply = await this.#client.eval(script, {
        keys: [this.#dataKey(key), this.#indexKey(), ...fences.map((f) => this.#fenceKey(f.lock))],
        arguments: [...args, ...fences.map((f) => String(f.token))],
      });
    } catch (err) {
      throw this.#error(doing, err);
    }
    if (!Array.isArray(reply) || reply.length === 0) return;
    const refused = fences[Number(reply[0])];
    if (refused === undefined) throw this.#error(doing, new Error(`unexpected reply from the fenced write script: ${String(reply)}`));
    throw new FencedWriteError(key, refused, Number(reply[1]), this.toString());
  }

  /** Never rejects: a failed refresh is retried at the next tick, within the TTL's margin. */
  async #refresh(name: string, token: string): Promise<void> {
    try {
      const extended = await this.#client.eval(REFRESH_SCRIPT, {
        keys: [this.#lockKey(name)],
        arguments: [token, String(this.#lockTtlMs)],
      });
      const held = this.#held.get(name);
      if (extended === 0 && held?.token === token) {
        this.#held.delete(name);
        clearInterval(held.timer);
        publish('my-server:storage:lock-lost', { name, storage: this.toString() });
      }
    } catch {
      // Connection trouble; the next tick tries again.
    }
  }

  #dataKey(key: string): string {
    return `${this.#prefix}:data:${key}`;
  }

  #indexKey(): string {
    return `${this.#prefix}:keys`;
  }

  #lockKey(name: string): string {
    return `${this.#prefix}:lock:${name}`;
  }

  #fenceKey(name: string): string {
    return `${this.#prefix}:fence:${name}`;
  }

  #changesChannel(): string {
    return `${this.#prefix}:changes`;
  }

  #error(doing: string, cause: unknown): MyServerError {
    return new MyServerError('MS_ERR_STORAGE', `${doing} in ${this.toString()}`, { cause });
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid url)';
  }
}
