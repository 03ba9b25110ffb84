import { randomUUID } from 'node:crypto';
import { publish } from '../diagnostics.ts';
import { ClientClosedError, createClient, ErrorReply, RESP_TYPES } from '@redis/client';
import { describeError, MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { StorageUnavailableError, type StorageState } from './availability.ts';
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

/**
 * The longest any Redis call waits: for a connection, and for a reply. Caddy's Redis storage
 * module waits 5 s too. Below the 25 s a handshake waits for a certificate, so a handshake for a
 * new name while Redis hangs (SIGSTOP, CLIENT PAUSE, a full disk) fails with a storage error in
 * time instead of hanging for as long as Redis does.
 */
export const DEFAULT_TIMEOUT_MS = 5_000;
/**
 * How often the connection is checked with a PING. A closed socket is seen at once (the client's
 * events); a server that holds the connection open without answering only by a PING's timeout.
 * Also how soon a server that came back is seen, since calls fail at once while it is down.
 */
const PROBE_INTERVAL_MS = 1_000;
/** Reconnect delays once connected; the first connect gives up instead, see connect(). */
const RECONNECT_MAX_MS = 3_000;
const INITIAL_CONNECT_RETRIES = 3;
/** What withinTimeout gives when the timer won. */
const TIMED_OUT = Symbol('timed out');

/**
 * `pending` raced against a timer of `ms`: its value, or TIMED_OUT when the timer fired first.
 * The one race every Redis call goes through (commands, PINGs, connect, close). Exactly one of
 * the two settles the result, the timer is cleared either way, and once the timer has won,
 * `pending`'s late outcome goes to `late` (its reply, or undefined when it failed), never to the
 * caller and never as an unhandled rejection: a command that was sent still runs when Redis
 * wakes up, and only `late` may act on its reply.
 */
export async function withinTimeout<T>(pending: Promise<T>, ms: number, late?: (reply: T | undefined) => void): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    const result = await Promise.race([pending, timeout]);
    if (result === TIMED_OUT) {
      pending.then(
        (reply) => late?.(reply),
        () => late?.(undefined),
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

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
  /** A lock's lease (time to live without a refresh); default DEFAULT_LOCK_TTL_MS. */
  readonly lockTtlMs?: number | undefined;
  /** The longest a connection attempt or a command waits; default DEFAULT_TIMEOUT_MS. */
  readonly timeoutMs?: number | undefined;
  /** PEM of the CAs that sign a rediss:// server's certificate, trusted instead of Node's bundled roots. */
  readonly tlsCa?: string | undefined;
  /** Where changes of state (unreachable, reachable again) are logged, once each. */
  readonly log?: Logger | undefined;
}

interface ClientSettings {
  readonly url: string;
  readonly timeoutMs: number;
  readonly tlsCa: string | undefined;
  readonly reconnectStrategy: (retries: number, cause: Error) => number | Error;
}

function createBinaryClient(o: ClientSettings) {
  const socket = {
    reconnectStrategy: o.reconnectStrategy,
    connectTimeout: o.timeoutMs,
    // tls itself comes from the URL's scheme (rediss:); the client refuses a socket option that disagrees.
    ...(o.tlsCa !== undefined ? { tls: true as const, ca: o.tlsCa } : {}),
  };
  // Values come back as Buffers, so binary data survives; keys and tokens are converted by hand.
  return createClient({ url: o.url, disableOfflineQueue: true, socket }).withTypeMapping({
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
 * Outages (docs/clustering.md "Redis outages"): no call waits longer than the timeout (the
 * client's own command timeout stops once a command is written, so each call races its own
 * timer). A lost connection, a call with no reply in time or a failed PING makes the storage
 * down: logged once, and every call then fails at once with StorageUnavailableError (no queueing,
 * no waiting) until a PING is answered again, which is logged once and told to onStateChange
 * listeners so the work that failed meanwhile is resumed. The client reconnects by itself.
 */
export class RedisStorage implements Storage {
  readonly #url: string;
  readonly #prefix: string;
  readonly #lockTtlMs: number;
  readonly #timeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #client: ReturnType<typeof createBinaryClient>;
  readonly #held = new Map<string, Held>();
  readonly #wakers = new LockWakers();
  readonly #changeListeners = new Set<(key: string) => void>();
  readonly #stateListeners = new Set<(state: StorageState) => void>();
  #subscriber: ReturnType<typeof createBinaryClient> | undefined;
  #everConnected = false;
  #closed = false;
  #state: StorageState = { kind: 'redis', state: 'up', since: new Date() };
  #probeTimer: NodeJS.Timeout | undefined;
  #probing = false;

  constructor(options: RedisStorageOptions) {
    this.#url = options.url;
    this.#prefix = options.prefix ?? 'my-server';
    this.#lockTtlMs = options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#log = options.log;
    this.#client = createBinaryClient({
      url: this.#url,
      timeoutMs: this.#timeoutMs,
      tlsCa: options.tlsCa,
      reconnectStrategy: (retries, cause) => {
        if (!this.#everConnected && retries >= INITIAL_CONNECT_RETRIES) return cause;
        return Math.min(100 * 2 ** retries, RECONNECT_MAX_MS);
      },
    });
    // Without a listener an 'error' event would crash the process. After the first connect, a
    // socket error means the connection is gone (the client reconnects by itself).
    this.#client.on('error', (err: unknown) => {
      if (this.#everConnected) this.#down(describeError(err));
    });
    this.#client.on('reconnecting', () => {
      if (this.#everConnected) this.#down('connection lost, reconnecting');
    });
    // Reconnected: a PING answered is what says it is up (a server can accept and not answer).
    this.#client.on('ready', () => {
      if (this.#everConnected) this.#probe();
    });
  }

  /**
   * Connects, giving up with MS_ERR_STORAGE when the server cannot be reached after a few tries
   * or does not answer within the timeout (a stopped server accepts TCP and never replies).
   */
  async connect(): Promise<void> {
    const limitMs = this.#timeoutMs * (INITIAL_CONNECT_RETRIES + 1);
    try {
      // Connected after we gave up: nobody uses that connection; close it.
      const connected = await withinTimeout(this.#client.connect(), limitMs, () => {
        if (this.#client.isOpen) this.#client.destroy();
      });
      if (connected === TIMED_OUT) throw new Error(`no answer within ${limitMs} ms`);
      this.#everConnected = true;
    } catch (err) {
      if (this.#client.isOpen) this.#client.destroy();
      throw this.#error('connecting', err);
    }
    this.#state = { kind: 'redis', state: 'up', since: new Date() };
    this.#probeTimer = setInterval(() => this.#probe(), PROBE_INTERVAL_MS).unref();
  }

  state(): StorageState {
    return this.#state;
  }

  onStateChange(listener: (state: StorageState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => {
      this.#stateListeners.delete(listener);
    };
  }

  /**
   * Stops refreshing held locks and closes the connection. Locks still held are not released:
   * they expire after their TTL, so unlock first when another node should take over at once.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#probeTimer);
    for (const held of this.#held.values()) clearInterval(held.timer);
    this.#held.clear();
    this.#changeListeners.clear();
    this.#stateListeners.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    const open = [subscriber, this.#client].filter((c) => c?.isOpen === true) as ReturnType<typeof createBinaryClient>[];
    await Promise.all(open.map((c) => this.#shut(c)));
  }

  async get(key: string): Promise<Buffer | undefined> {
    const dataKey = this.#dataKey(validateKey(key));
    return (await this.#run(`reading "${key}"`, () => this.#client.hGet(dataKey, 'v'))) ?? undefined;
  }

  async put(key: string, value: Buffer | string, options?: WriteOptions): Promise<void> {
    const dataKey = this.#dataKey(validateKey(key));
    const fences = fencesOf(options);
    if (fences.length > 0) {
      await this.#fenced(key, fences, `writing "${key}"`, FENCED_PUT_SCRIPT, [value, String(Date.now()), key]);
      return;
    }
    await this.#run(`writing "${key}"`, () =>
      this.#client
        .multi()
        .hSet(dataKey, { v: value, m: String(Date.now()) })
        .zAdd(this.#indexKey(), { score: 0, value: key })
        .exec(),
    );
  }

  async delete(key: string, options?: WriteOptions): Promise<void> {
    const dataKey = this.#dataKey(validateKey(key));
    const fences = fencesOf(options);
    if (fences.length > 0) {
      await this.#fenced(key, fences, `deleting "${key}"`, FENCED_DELETE_SCRIPT, [key]);
      return;
    }
    await this.#run(`deleting "${key}"`, () => this.#client.multi().del(dataKey).zRem(this.#indexKey(), key).exec());
  }

  async exists(key: string): Promise<boolean> {
    const dataKey = this.#dataKey(validateKey(key));
    return (await this.#run(`checking "${key}"`, () => this.#client.exists(dataKey))) === 1;
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    const dataKey = this.#dataKey(validateKey(key));
    const replies = await this.#run(`reading the status of "${key}"`, () => this.#client.multi().hStrLen(dataKey, 'v').hGet(dataKey, 'm').exec());
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
    const members = await this.#run(`listing "${prefix}"`, () => this.#client.zRange(this.#indexKey(), min, max, { BY: 'LEX' }));
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
      await this.#run(`releasing lock "${name}"`, () => this.#client.eval(UNLOCK_SCRIPT, { keys: [this.#lockKey(name)], arguments: [held.token] }));
    } finally {
      this.#wakers.wake(name);
    }
  }

  fence(name: string): Fence | undefined {
    const held = this.#held.get(name);
    return held === undefined ? undefined : { lock: name, token: held.fence };
  }

  async publishChange(key: string): Promise<void> {
    const channel = this.#changesChannel();
    const message = validateKey(key);
    await this.#run(`publishing a change of "${key}"`, () => this.#client.publish(channel, message));
  }

  /**
   * The subscription needs a connection of its own (a subscribed connection runs no other
   * command); it is opened by the first listener and reconnects, resubscribing, like the main one.
   */
  onChange(listener: (key: string) => void): () => void {
    this.#changeListeners.add(listener);
    if (this.#subscriber === undefined && !this.#closed) {
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
        .catch((err: unknown) => {
          // Closed before it connected: nothing to say. Otherwise (an ACL without the channel,
          // say) polling still finds the changes, a minute late: say why.
          if (!this.#closed) this.#log?.warn({ err, channel: this.#changesChannel() }, `subscribing to certificate changes in ${this.toString()} failed, other instances' certificates are picked up by the minute poll: ${describeError(err)}`);
        });
    }
    return () => {
      this.#changeListeners.delete(listener);
    };
  }

  toString(): string {
    return `redis:${redactUrl(this.#url)} prefix "${this.#prefix}"`;
  }

  /**
   * Runs one call to Redis within the timeout. While the storage is down it fails at once; a
   * connection failure or a timeout makes it down. `late` gets the reply of a call that timed out
   * and was answered after all (the command was sent: Redis runs it when it wakes up).
   */
  async #run<T>(doing: string, call: () => Promise<T>, late?: (reply: T | undefined) => void): Promise<T> {
    if (this.#state.state === 'down') throw this.#unavailable(doing, this.#state.reason);
    let reply: T | typeof TIMED_OUT;
    try {
      reply = await withinTimeout(call(), this.#timeoutMs, late);
    } catch (err) {
      if (isConnectionError(err)) {
        this.#down(describeError(err));
        throw this.#unavailable(doing, describeError(err), err);
      }
      throw this.#error(doing, err);
    }
    if (reply === TIMED_OUT) {
      const reason = `no reply within ${this.#timeoutMs} ms`;
      this.#down(reason);
      throw this.#unavailable(doing, reason);
    }
    return reply;
  }

  /**
   * One PING at a time: answered in time means up, anything else down. Never rejects. A PING that
   * timed out is still the one in flight until it is answered or its connection fails, so a
   * stopped server is not sent a new PING every interval for as long as it is stopped.
   */
  #probe(): void {
    if (this.#probing || this.#closed || !this.#client.isOpen) return;
    this.#probing = true;
    const done = (): void => {
      this.#probing = false;
    };
    withinTimeout(this.#client.ping(), this.#timeoutMs, done).then(
      (pong) => {
        if (pong === TIMED_OUT) {
          this.#down(`no reply to PING within ${this.#timeoutMs} ms`);
          return;
        }
        done();
        this.#up();
      },
      (err: unknown) => {
        done();
        this.#down(describeError(err));
      },
    );
  }

  #down(reason: string): void {
    if (this.#closed || this.#state.state === 'down') return;
    this.#state = { kind: 'redis', state: 'down', since: new Date(), reason };
    this.#log?.error(
      { storage: this.toString(), reason },
      `storage ${this.toString()} is unavailable (${reason}): serving the certificates already loaded, no certificate is issued or renewed until it is back`,
    );
    this.#changed();
  }

  #up(): void {
    if (this.#closed || this.#state.state === 'up') return;
    const downMs = Date.now() - this.#state.since.getTime();
    this.#state = { kind: 'redis', state: 'up', since: new Date() };
    this.#log?.info({ storage: this.toString(), downMs }, `storage ${this.toString()} is available again after ${(downMs / 1000).toFixed(1)} s: resuming issuance`);
    this.#changed();
  }

  #changed(): void {
    const state = this.#state;
    for (const l of [...this.#stateListeners]) {
      try {
        l(state);
      } catch (err) {
        this.#log?.error({ err }, `a storage state listener failed: ${describeError(err)}`);
      }
    }
  }

  /** close(), or destroy() when the server does not let close() finish in time (it waits for replies). */
  async #shut(client: ReturnType<typeof createBinaryClient>): Promise<void> {
    if (this.#state.state === 'down') {
      client.destroy();
      return;
    }
    const closed = await withinTimeout(client.close().catch(() => undefined), this.#timeoutMs);
    if (closed === TIMED_OUT && client.isOpen) client.destroy();
  }

  async #tryLock(name: string): Promise<boolean> {
    const token = randomUUID();
    const keys = [this.#lockKey(name), this.#fenceKey(name)];
    const reply = await this.#run(
      `taking lock "${name}"`,
      () => this.#client.eval(LOCK_SCRIPT, { keys, arguments: [token, String(this.#lockTtlMs)] }),
      // Taken after we gave up: nobody refreshes it; free it now rather than block the name for a lease.
      (late) => {
        if (Number(late) > 0) void this.#client.eval(UNLOCK_SCRIPT, { keys: [keys[0]!], arguments: [token] }).catch(() => undefined);
      },
    );
    const fence = Number(reply);
    if (!(fence > 0)) return false;
    const timer = setInterval(() => void this.#refresh(name, token), Math.max(1, Math.floor(this.#lockTtlMs / 3)));
    this.#held.set(name, { token, fence, timer: timer.unref() });
    return true;
  }

  /** Runs a fenced write script; throws FencedWriteError when it refused. */
  async #fenced(key: string, fences: readonly Fence[], doing: string, script: string, args: (Buffer | string)[]): Promise<void> {
    for (const f of fences) validateLockName(f.lock);
    const reply = await this.#run(doing, () =>
      this.#client.eval(script, {
        keys: [this.#dataKey(key), this.#indexKey(), ...fences.map((f) => this.#fenceKey(f.lock))],
        arguments: [...args, ...fences.map((f) => String(f.token))],
      }),
    );
    if (!Array.isArray(reply) || reply.length === 0) return;
    const refused = fences[Number(reply[0])];
    if (refused === undefined) throw this.#error(doing, new Error(`unexpected reply from the fenced write script: ${String(reply)}`));
    throw new FencedWriteError(key, refused, Number(reply[1]), this.toString());
  }

  /**
   * Never rejects: a failed refresh is retried at the next tick, within the lease's margin. A
   * lease that ran out while Redis was unreachable is found lost here once it is back.
   */
  async #refresh(name: string, token: string): Promise<void> {
    try {
      const extended = await this.#run(`refreshing lock "${name}"`, () =>
        this.#client.eval(REFRESH_SCRIPT, {
          keys: [this.#lockKey(name)],
          arguments: [token, String(this.#lockTtlMs)],
        }),
      );
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

  #unavailable(doing: string, reason: string | undefined, cause?: unknown): StorageUnavailableError {
    const since = this.#state.state === 'down' ? ` since ${this.#state.since.toISOString()}` : '';
    return new StorageUnavailableError(`${doing} in ${this.toString()}: storage unavailable${since}${reason !== undefined ? ` (${reason})` : ''}`, cause !== undefined ? { cause } : undefined);
  }
}

/**
 * Whether a failed call failed for want of a connection (rather than by Redis's answer, or
 * after close()): the socket's own errors, the client's offline and closed-socket errors, and a
 * server still loading its data after a restart.
 */
function isConnectionError(err: unknown): boolean {
  if (err instanceof ClientClosedError) return false;
  if (err instanceof ErrorReply) return /^(LOADING|MASTERDOWN|BUSY)\b/.test(err.message);
  return err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError);
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
