import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';

type Response = ServerResponse | Http2ServerResponse;

/** Where a body hook passes chunks on: the hook added before it, and last the response itself. */
export interface BodySink {
  /** False asks the writer to wait for the response's 'drain'. */
  write(chunk: Buffer): boolean;
  /** The end of the body, with its last chunk if there is one. */
  end(last?: Buffer): void;
}

export interface HeadInfo {
  /**
   * The body's byte length when the whole body was handed to end() before any write() and no
   * Content-Length is set (the response would then carry that length); undefined otherwise.
   */
  readonly bodyLength: number | undefined;
}

/** What one party (encode, header operations, the access log) wants to see of a response. */
export interface ResponseHook {
  /** Runs once, just before the head goes out, whoever sends it: status and headers may still change. */
  onHead?(info: HeadInfo): void;
  /**
   * Each body chunk on its way out (strings arrive as bytes). Pass it, or what it becomes, to the
   * sink the hook was made with, now or later. Without it chunks pass on unchanged.
   */
  onChunk?(chunk: Buffer): boolean;
  /** The body ends; call the sink's end() once everything is passed on. Without it the end passes on. */
  onEnd?(last: Buffer | undefined): void;
  /**
   * Whether the hook may still hold a chunk after onChunk returned (a compressor does), asked once
   * the head went out. A writer may reuse a chunk's buffer after its write callback only when no
   * hook holds chunks, since a held chunk's callback comes as soon as the hook took it. Absent on
   * a hook with onChunk: it is taken to hold them.
   */
  retainsChunks?(): boolean;
}

type WriteHead = (statusCode: number, ...rest: unknown[]) => unknown;
type Write = (chunk: unknown, ...rest: unknown[]) => boolean;
type End = (...args: unknown[]) => unknown;
type Callback = (err?: Error | null) => void;

/**
 * The one wrapper around a response (HTTP/1 `ServerResponse` or HTTP/2 `Http2ServerResponse`):
 * nothing else replaces a response's writeHead, write or end. It is installed on first use, so a
 * response nobody hooks costs nothing.
 *
 * Hooks nest as middleware does: the hook added last is the closest to the handler. It sees the
 * head first and each chunk first, and what it passes on goes to the hook added before it, then
 * to the response. The request handler adds the access log's byte counter before any route runs,
 * so it counts the bytes that reach the client (after encode); `encode` decides in its head hook,
 * before `header` operations added earlier (Caddy's order) apply theirs.
 *
 * The head hooks run before the first body chunk reaches any body hook: writeHead, flushHeaders,
 * the first write() or end(), whichever comes first. Node sends the head itself afterwards, so a
 * body handed whole to end() still gets its Content-Length from Node unless a hook removed it.
 */
export class ResponseHooks {
  readonly #res: Response;
  readonly #head: ((info: HeadInfo) => void)[] = [];
  /** The body hooks' answers to "do you hold chunks?" (ResponseHook.retainsChunks). */
  readonly #retains: (() => boolean)[] = [];
  #headDone = false;
  /** What the handler's write/end enter: the last body hook added, or the response itself. */
  #entry: BodySink;
  readonly #base: BodySink;
  /** The handler's write callback, for the response's own write if the chunk gets there at once. */
  #writeCb: Callback | undefined;
  #endCb: (() => void) | undefined;
  /**
   * Set while the response's own write/end run: Http2ServerResponse.end(chunk) calls this.write(chunk),
   * which must not go through the hooks a second time (the old byte counter counted it twice).
   */
  #inside = false;

  constructor(res: Response) {
    this.#res = res;
    const writeHead = res.writeHead as unknown as WriteHead;
    const write = res.write as unknown as Write;
    const end = res.end as unknown as End;
    this.#base = {
      write: (chunk) => {
        const cb = this.#writeCb;
        this.#writeCb = undefined;
        this.#inside = true;
        try {
          return cb ? write.call(res, chunk, cb) : write.call(res, chunk);
        } finally {
          this.#inside = false;
        }
      },
      end: (last) => {
        const cb = this.#endCb;
        this.#endCb = undefined;
        this.#inside = true;
        try {
          if (last !== undefined) end.call(res, last, cb);
          else end.call(res, cb);
        } finally {
          this.#inside = false;
        }
      },
    };
    this.#entry = this.#base;
    const patchedWriteHead: WriteHead = (statusCode, ...rest) => {
      if (!this.#headDone) {
        // Headers given to writeHead itself are folded in first, so the hooks see and can change them.
        const at = rest.findIndex((a) => typeof a === 'object' && a !== null);
        if (at >= 0) {
          foldHeaders(res, rest[at] as Record<string, string | string[] | number | undefined> | string[]);
          rest.splice(at, 1);
        }
        res.statusCode = statusCode;
        this.#runHead(undefined);
      }
      return writeHead.call(res, res.statusCode, ...rest);
    };
    const patchedWrite: Write = (chunk, ...rest) => {
      if (this.#inside) return write.call(res, chunk, ...rest);
      this.#runHead(undefined);
      if (this.#entry === this.#base) return write.call(res, chunk, ...rest);
      const cb = rest.find((a) => typeof a === 'function') as Callback | undefined;
      const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined;
      this.#writeCb = cb;
      const ok = this.#entry.write(toBuffer(chunk, encoding));
      if (this.#writeCb) {
        // A hook kept the chunk (a compressor): it is taken, which is what the callback means.
        this.#writeCb = undefined;
        process.nextTick(cb!);
      }
      return ok;
    };
    const patchedEnd: End = (...args) => {
      if (this.#inside) return end.call(res, ...args);
      const chunk = typeof args[0] === 'function' ? undefined : args[0];
      const encoding = typeof args[1] === 'string' ? (args[1] as BufferEncoding) : undefined;
      const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
      const last = chunk === undefined || chunk === null ? undefined : toBuffer(chunk, encoding);
      if (!this.#headDone) {
        const bodyLength = last !== undefined && res.getHeader('content-length') === undefined ? last.byteLength : undefined;
        this.#runHead(bodyLength);
      }
      if (this.#entry === this.#base) return end.call(res, ...args);
      this.#endCb = cb;
      this.#entry.end(last);
      if (this.#endCb) {
        this.#endCb = undefined;
        res.once('finish', () => cb!());
      }
      return res;
    };
    (res as unknown as { writeHead: WriteHead }).writeHead = patchedWriteHead;
    (res as unknown as { write: Write }).write = patchedWrite;
    (res as unknown as { end: End }).end = patchedEnd;
  }

  /** Adds a hook; `make` gets the sink its body chunks go on to. */
  add(make: (next: BodySink) => ResponseHook): void {
    const next = this.#entry;
    const hook = make(next);
    if (hook.onHead) this.#head.push(hook.onHead.bind(hook));
    if (!hook.onChunk && !hook.onEnd) return;
    if (hook.onChunk) this.#retains.push(hook.retainsChunks ? hook.retainsChunks.bind(hook) : () => true);
    const onChunk = hook.onChunk?.bind(hook);
    const onEnd = hook.onEnd?.bind(hook);
    this.#entry = {
      write: onChunk ?? ((chunk) => next.write(chunk)),
      end: onEnd ?? ((last) => next.end(last)),
    };
  }

  /** Whether any body hook may hold a chunk after taking it (see ResponseHook.retainsChunks). */
  retainsChunks(): boolean {
    for (const r of this.#retains) if (r()) return true;
    return false;
  }

  /** Shorthand for a hook with only onHead. */
  onHead(fn: (info: HeadInfo) => void): void {
    this.#head.push(fn);
  }

  #runHead(bodyLength: number | undefined): void {
    if (this.#headDone) return;
    this.#headDone = true;
    const info = { bodyLength };
    for (let i = this.#head.length - 1; i >= 0; i--) this.#head[i]!(info);
  }
}

/** Where a response keeps its hooks: on the response itself, so nothing outlives it. */
const HOOKS = Symbol('my-server.response-hooks');

/** The hooks of `res`, installed on first use. */
export function responseHooks(res: Response): ResponseHooks {
  const holder = res as unknown as { [HOOKS]?: ResponseHooks };
  return (holder[HOOKS] ??= new ResponseHooks(res));
}

/**
 * Whether a chunk written to `res` may be held by a response hook after its write callback ran, so
 * its buffer must not be reused (files/file-stream.ts). Ask after the first write: hooks decide
 * in the head (encode compresses or not). A response nobody hooked holds nothing.
 */
export function chunksRetained(res: Response): boolean {
  const hooks = (res as unknown as { [HOOKS]?: ResponseHooks })[HOOKS];
  return hooks !== undefined && hooks.retainsChunks();
}

/** Counts the body bytes that reach the client (after any encoding); returns the reader. */
export function countBodyBytes(res: Response): () => number {
  let bytes = 0;
  responseHooks(res).add((next) => ({
    onChunk(chunk) {
      bytes += chunk.byteLength;
      return next.write(chunk);
    },
    onEnd(last) {
      if (last !== undefined) bytes += last.byteLength;
      next.end(last);
    },
    // Each chunk is passed on at once.
    retainsChunks: () => false,
  }));
  return () => bytes;
}

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding);
  if (Buffer.isBuffer(chunk)) return chunk;
  const view = chunk as ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function foldHeaders(res: Response, headers: Record<string, string | string[] | number | undefined> | string[]): void {
  if (!Array.isArray(headers)) {
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) res.setHeader(k, v);
    return;
  }
  // A flat [name, value, …] list may repeat a name: the values are kept together, not overwritten.
  const byName = new Map<string, { name: string; values: string[] }>();
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!;
    const entry = byName.get(name.toLowerCase()) ?? { name, values: [] };
    entry.values.push(headers[i + 1]!);
    byName.set(name.toLowerCase(), entry);
  }
  for (const { name, values } of byName.values()) res.setHeader(name, values.length === 1 ? values[0]! : values);
}
