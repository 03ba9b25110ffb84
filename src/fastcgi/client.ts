/**
 * A FastCGI client for responder applications such as php-fpm: one request per connection at a
 * time (php-fpm answers FCGI_MAX_CONNS/MPXS_CONNS with no multiplexing), connections kept open
 * with FCGI_KEEP_CONN and pooled per upstream. The request body goes out as STDIN records as it
 * arrives and the response comes back as it is produced: neither is buffered whole.
 *
 * A php-fpm worker stays bound to a kept-open connection until it closes, so an idle pooled
 * connection holds a worker. Hence: one pool per address for the whole process (sharedPool), a
 * short idle timeout, and no pooling while another request of the pool still waits for its first
 * answer byte, since that one may be queued behind workers our idle connections hold.
 */
import net from 'node:net';
import type { Readable } from 'node:stream';
import { headerEnd, MAX_HEADER_BYTES, parseCgiHead, type CgiHead } from './cgi-response.ts';
import {
  beginRequest,
  decodeEndRequest,
  encodeParams,
  encodeRecord,
  END_REQUEST,
  PARAMS,
  RecordReader,
  STDERR,
  STDIN,
  STDOUT,
  streamRecords,
} from './protocol.ts';

/** `dial`: no connection (502); `timeout`: no answer in time (504); `protocol`/`closed`: a bad or cut answer (502). */
export type FcgiFailure = 'dial' | 'timeout' | 'protocol' | 'closed' | 'aborted';

export class FastCgiError extends Error {
  readonly failure: FcgiFailure;
  constructor(failure: FcgiFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FastCgiError';
    this.failure = failure;
  }
}

export type FcgiAddress = { readonly network: 'tcp'; readonly host: string; readonly port: number } | { readonly network: 'unix'; readonly path: string };

export function addressText(a: FcgiAddress): string {
  return a.network === 'unix' ? `unix/${a.path}` : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export interface PoolOptions {
  readonly dialTimeoutMs: number;
  /** Idle connections kept; more are closed when released. */
  readonly maxIdle?: number;
  /** An idle connection is closed after this long unused. */
  readonly idleTimeoutMs?: number;
}

const ID = 1;

/** Keep-alive connections to one FastCGI server. */
export class FastCgiPool {
  readonly address: FcgiAddress;
  readonly #opts: Required<PoolOptions>;
  readonly #idle: net.Socket[] = [];
  #closed = false;
  /** Requests sent on this pool's connections that have had no answer byte yet. */
  waiting = 0;

  constructor(address: FcgiAddress, opts: PoolOptions) {
    this.address = address;
    this.#opts = { maxIdle: 16, idleTimeoutMs: 2_000, ...opts };
  }

  /** An idle connection, or a new one; `reused` tells which (a reused one may have been closed by the server meanwhile). */
  async acquire(): Promise<{ socket: net.Socket; reused: boolean }> {
    for (;;) {
      const s = this.#idle.pop();
      if (s === undefined) break;
      if (s.destroyed || !s.writable || s.readableEnded) continue;
      s.removeAllListeners('close');
      s.removeAllListeners('error');
      s.removeAllListeners('timeout');
      s.setTimeout(0);
      s.ref();
      return { socket: s, reused: true };
    }
    return { socket: await this.#dial(), reused: false };
  }

  /** Hands a connection back after a complete exchange; anything else destroys it. */
  release(s: net.Socket): void {
    if (this.#closed || s.destroyed || this.#idle.length >= this.#opts.maxIdle || this.waiting > 0) {
      s.destroy();
      return;
    }
    s.removeAllListeners('data');
    s.removeAllListeners('end');
    s.removeAllListeners('drain');
    s.removeAllListeners('close');
    s.removeAllListeners('error');
    s.removeAllListeners('timeout');
    const drop = (): void => {
      const at = this.#idle.indexOf(s);
      if (at >= 0) this.#idle.splice(at, 1);
      s.destroy();
    };
    s.on('close', drop);
    s.on('error', drop);
    s.on('end', drop);
    s.setTimeout(this.#opts.idleTimeoutMs, drop);
    s.resume();
    // An idle pooled connection must not keep the process alive.
    s.unref();
    this.#idle.push(s);
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#idle.splice(0)) s.destroy();
  }

  get idleCount(): number {
    return this.#idle.length;
  }

  #dial(): Promise<net.Socket> {
    const a = this.address;
    return new Promise((resolve, reject) => {
      const s = a.network === 'unix' ? net.connect({ path: a.path }) : net.connect({ host: a.host, port: a.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new FastCgiError('dial', `dial ${addressText(a)}: no connection after ${this.#opts.dialTimeoutMs} ms`));
      }, this.#opts.dialTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        s.setNoDelay(true);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new FastCgiError('dial', `dial ${addressText(a)}: ${err.message}`, { cause: err }));
      });
    });
  }
}

const POOLS = new Map<string, FastCgiPool>();

/**
 * The process-wide pool for an address: every route, site and config generation that names the
 * same FastCGI server shares its idle connections (and so the php-fpm workers they hold).
 */
export function sharedPool(address: FcgiAddress, opts: PoolOptions): FastCgiPool {
  const key = `${addressText(address)} ${opts.dialTimeoutMs}`;
  let pool = POOLS.get(key);
  if (pool === undefined) {
    pool = new FastCgiPool(address, opts);
    POOLS.set(key, pool);
  }
  return pool;
}

/** Where the response goes; `write` returning false pauses the upstream until `drain` is called back. */
export interface ResponseSink {
  head(head: CgiHead): void;
  write(chunk: Buffer): boolean;
  onDrain(cb: () => void): void;
  end(): void;
}

export interface ExchangeOptions {
  readonly params: Iterable<readonly [string, string]>;
  /** The request body; absent: an empty STDIN. */
  readonly body?: Readable;
  /** Longest wait for the server's next bytes once the request is sent (Caddy's read_timeout); 0: none. */
  readonly readTimeoutMs: number;
  /** Longest wait for the server to take the next request bytes (write_timeout); 0: none. */
  readonly writeTimeoutMs: number;
  readonly onStderr?: (text: string) => void;
  /** Counted in its `waiting` until the first answer byte (see the module comment). */
  readonly pool?: FastCgiPool;
}

export interface ExchangeResult {
  /** The connection may serve another request (END_REQUEST came after the whole STDIN was sent). */
  readonly reusable: boolean;
  readonly appStatus: number;
}

/**
 * One request on `socket`: BEGIN_REQUEST with keep-alive, the PARAMS stream, STDIN from `body`,
 * then STDOUT through the CGI header parser into `sink`. Resolves at END_REQUEST; rejects with a
 * FastCgiError (the sink's `head` was called or not: the caller checks). `abort()` ends it early.
 */
export class Exchange {
  readonly done: Promise<ExchangeResult>;
  readonly #socket: net.Socket;
  readonly #opts: ExchangeOptions;
  readonly #sink: ResponseSink;
  readonly #reader = new RecordReader();
  #head: Buffer | undefined = Buffer.alloc(0);
  #stdinDone = false;
  #finished = false;
  #readTimer: NodeJS.Timeout | undefined;
  #writeTimer: NodeJS.Timeout | undefined;
  #sinkPaused = false;
  #waiting = false;
  /** Bytes of request body taken from `body`: a failed exchange with none may be retried. */
  bodyBytes = 0;
  #resolve!: (r: ExchangeResult) => void;
  #reject!: (e: FastCgiError) => void;

  constructor(socket: net.Socket, opts: ExchangeOptions, sink: ResponseSink) {
    this.#socket = socket;
    this.#opts = opts;
    this.#sink = sink;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (opts.pool) {
      opts.pool.waiting++;
      this.#waiting = true;
    }
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(new FastCgiError('closed', `FastCGI connection: ${err.message}`, { cause: err })));
    socket.on('close', () => this.#fail(new FastCgiError('closed', 'FastCGI connection closed before the end of the response')));
    socket.write(beginRequest(ID, true));
    const params = encodeParams(opts.params);
    for (const rec of streamRecords(PARAMS, ID, params)) socket.write(rec);
    socket.write(encodeRecord(PARAMS, ID));
    this.#sendBody();
  }

  abort(why: string): void {
    this.#fail(new FastCgiError('aborted', why));
  }

  #sendBody(): void {
    const body = this.#opts.body;
    const finish = (): void => {
      if (this.#finished) return;
      this.#socket.write(encodeRecord(STDIN, ID));
      this.#stdinDone = true;
      this.#armRead();
    };
    if (body === undefined || body.readableEnded) {
      finish();
      return;
    }
    body.on('data', (chunk: Buffer) => {
      if (this.#finished) return;
      this.bodyBytes += chunk.length;
      let ok = true;
      for (const rec of streamRecords(STDIN, ID, chunk)) ok = this.#socket.write(rec);
      if (!ok) {
        body.pause();
        if (this.#opts.writeTimeoutMs > 0) {
          this.#writeTimer = setTimeout(() => this.#fail(new FastCgiError('timeout', `FastCGI server took no request body for ${this.#opts.writeTimeoutMs} ms`)), this.#opts.writeTimeoutMs);
        }
        this.#socket.once('drain', () => {
          clearTimeout(this.#writeTimer);
          if (!this.#finished) body.resume();
        });
      }
    });
    body.once('end', finish);
    body.once('error', (err) => this.#fail(new FastCgiError('aborted', `request body: ${err.message}`, { cause: err })));
    // An HTTP/1 request whose client went away ends as 'aborted' without 'end'.
    body.once('aborted', () => this.#fail(new FastCgiError('aborted', 'the client aborted the request body')));
  }

  #armRead(): void {
    clearTimeout(this.#readTimer);
    const ms = this.#opts.readTimeoutMs;
    if (ms <= 0 || this.#finished || !this.#stdinDone || this.#sinkPaused) return;
    this.#readTimer = setTimeout(() => this.#fail(new FastCgiError('timeout', `no answer from the FastCGI server for ${ms} ms`)), ms);
  }

  #answered(): void {
    if (!this.#waiting) return;
    this.#waiting = false;
    if (this.#opts.pool) this.#opts.pool.waiting--;
  }

  #onData(chunk: Buffer): void {
    if (this.#finished) return;
    this.#answered();
    this.#armRead();
    let records;
    try {
      records = this.#reader.push(chunk);
    } catch (err) {
      this.#fail(new FastCgiError('protocol', (err as Error).message));
      return;
    }
    for (const rec of records) {
      if (this.#finished) return;
      if (rec.requestId !== ID) continue;
      if (rec.type === STDOUT) this.#onStdout(rec.content);
      else if (rec.type === STDERR) {
        if (rec.content.length > 0) this.#opts.onStderr?.(rec.content.toString('utf8'));
      } else if (rec.type === END_REQUEST) this.#onEnd(rec.content);
    }
  }

  #onStdout(content: Buffer): void {
    if (content.length === 0) return;
    if (this.#head !== undefined) {
      const buf = Buffer.concat([this.#head, content]);
      const end = headerEnd(buf);
      if (end === undefined) {
        if (buf.length > MAX_HEADER_BYTES) this.#fail(new FastCgiError('protocol', `CGI response headers over ${MAX_HEADER_BYTES} bytes`));
        else this.#head = buf;
        return;
      }
      this.#head = undefined;
      let head: CgiHead;
      try {
        head = parseCgiHead(buf.toString('latin1', 0, end[0]));
      } catch (err) {
        this.#fail(new FastCgiError('protocol', (err as Error).message));
        return;
      }
      this.#sink.head(head);
      content = buf.subarray(end[1]);
      if (content.length === 0) return;
    }
    if (!this.#sink.write(content) && !this.#sinkPaused) {
      // The client reads slower than the script writes: stop reading the upstream until it catches up.
      this.#sinkPaused = true;
      clearTimeout(this.#readTimer);
      this.#socket.pause();
      this.#sink.onDrain(() => {
        this.#sinkPaused = false;
        if (this.#finished) return;
        this.#socket.resume();
        this.#armRead();
      });
    }
  }

  #onEnd(content: Buffer): void {
    let appStatus = 0;
    try {
      const end = decodeEndRequest(content);
      appStatus = end.appStatus;
      if (end.protocolStatus !== 0) {
        this.#fail(new FastCgiError('protocol', `FastCGI server refused the request (protocol status ${end.protocolStatus})`));
        return;
      }
    } catch (err) {
      this.#fail(new FastCgiError('protocol', (err as Error).message));
      return;
    }
    if (this.#head !== undefined) {
      this.#fail(new FastCgiError('protocol', 'FastCGI response ended before its headers'));
      return;
    }
    this.#cleanup();
    this.#sink.end();
    this.#resolve({ reusable: this.#stdinDone && this.#reader.pending === 0, appStatus });
  }

  #fail(err: FastCgiError): void {
    if (this.#finished) return;
    this.#cleanup();
    this.#socket.destroy();
    this.#reject(err);
  }

  #cleanup(): void {
    this.#finished = true;
    this.#answered();
    clearTimeout(this.#readTimer);
    clearTimeout(this.#writeTimer);
    this.#socket.removeAllListeners('data');
    this.#socket.removeAllListeners('close');
    this.#socket.removeAllListeners('error');
    const body = this.#opts.body;
    if (body !== undefined && !body.readableEnded) {
      // The rest of a body the server did not wait for is read and dropped, so the client's request completes.
      body.removeAllListeners('data');
      body.resume();
    }
    // A late socket error after this exchange must not be unhandled.
    this.#socket.on('error', () => {});
  }
}
