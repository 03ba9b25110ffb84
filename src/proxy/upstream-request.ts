import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from '../util/node-http.ts';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { InterceptedResponse, Interception } from './response-handling.ts';
import type { HeaderTimeout, QueueAwareHandler } from './transport.ts';

/** An HTTP/1 request or an HTTP/2 compatibility-API request. */
export type ProxyRequest = IncomingMessage | Http2ServerRequest;
export type ProxyResponse = ServerResponse | Http2ServerResponse;

/** The upstream did not answer in time; `phase` says which timeout fired. */
export class UpstreamTimeoutError extends Error {
  readonly phase: 'dial' | 'response-header' | 'read';
  constructor(phase: 'dial' | 'response-header' | 'read', ms: number, options?: ErrorOptions) {
    super(`${phase} timeout after ${ms}ms`, options);
    this.name = 'UpstreamTimeoutError';
    this.phase = phase;
  }
}

export type AttemptResult =
  /** The upstream answered and the response was relayed (or cut off after its headers). */
  | { readonly kind: 'done'; readonly status?: number }
  /** A handle_response block takes the response: nothing was sent to the client. */
  | { readonly kind: 'intercepted'; readonly index: number; readonly response: InterceptedResponse }
  /** `signal` aborted before the upstream's response headers; nothing was sent to the client. */
  | { readonly kind: 'aborted' }
  | {
      readonly kind: 'failed';
      readonly error: Error;
      readonly status: 502 | 504;
      /** The request never reached a connection, so the upstream cannot have seen it. */
      readonly dialFailed: boolean;
    };

export interface AttemptOptions {
  /** For the message of a dial timeout (the pool enforces it). */
  readonly dialTimeoutMs: number;
  /** For the message of a header timeout (the pool enforces it). */
  readonly headerTimeout?: HeaderTimeout | undefined;
  /**
   * `response_buffers`: bytes of the body read before the status and headers go to the client
   * (-1: the whole body); 0 or absent: relayed as they arrive. An upstream that fails within the
   * buffer still gets the client a 502, since nothing was sent yet.
   */
  readonly responseBuffer?: number;
  /**
   * Told every final response head first: a handler that changes the status (replace_status) or
   * takes the response (handle_response); undefined: relay it as it is.
   */
  readonly intercept?: (status: number, headers: IncomingHttpHeaders) => Interception | undefined;
  /** Turns the upstream's status and headers into the client's; may throw on invalid headers. */
  readonly responseHeaders: (status: number, headers: IncomingHttpHeaders) => OutgoingHttpHeaders;
  readonly signal: GiveUp;
}

/**
 * What an attempt listens to for "give up now": an AbortSignal, or anything with its `aborted`
 * and 'abort' listener shape (reverse-proxy.ts ClientGone, which costs no EventTarget).
 */
export interface GiveUp {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Starts the upstream request with `handler` as its undici DispatchHandler. */
export type Dispatch = (handler: QueueAwareHandler) => void;

/**
 * One attempt: start the upstream request through `dispatch` and relay the response to `res`.
 * Never rejects.
 *
 * Failures before the response headers come back as `failed` (the caller answers 502/504); after
 * them the client's response is cut off, as nothing truthful can be said once a status was sent.
 * The body is relayed chunk by chunk as it arrives: each chunk is written to the client at once,
 * and the upstream is paused while the client's side is full.
 */
export function forwardOnce(res: ProxyResponse, dispatch: Dispatch, options: AttemptOptions): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve) => {
    new ForwardHandler(res, options, resolve).start(dispatch);
  });
}

/**
 * The request body for undici, or null when there is none. undici reads it only once the request
 * is written on a live connection, so after a failed dial it is still unread and the request can
 * go to another upstream. `destroyOnReturn: false`: an attempt that fails mid-body must leave the
 * client's request alone, so the client still gets its 502.
 */
export function requestBody(req: ProxyRequest, hasBody: boolean): AsyncIterable<Uint8Array> | null {
  if (!hasBody) return null;
  return { [Symbol.asyncIterator]: () => req.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array> };
}

/** Error codes of undici that say the request was refused locally, before any connection. */
const LOCAL_ERRORS = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_DESTROYED', 'UND_ERR_CLOSED']);

class ForwardHandler implements QueueAwareHandler {
  readonly #res: ProxyResponse;
  readonly #options: AttemptOptions;
  readonly #resolve: (result: AttemptResult) => void;
  /** Set by onRequestStart: the request is being written on a connected socket. */
  #controller: Dispatcher.DispatchController | undefined;
  /** Takes the request out of the queue it waits in for a connection (see onQueued). */
  #dequeue: ((reason: Error) => void) | undefined;
  #status = 0;
  #responded = false;
  /** response_buffers: the head and the body held back until the buffer is full or the body ends. */
  #pending:
    | { status: number; headers: OutgoingHttpHeaders; upstream: IncomingHttpHeaders; chunks: Buffer[]; length: number }
    | undefined;
  #complete = false;
  #settled = false;
  /** Set when a handle_response block took the response: the body goes here, not to the client. */
  #body: Readable | undefined;

  constructor(res: ProxyResponse, options: AttemptOptions, resolve: (result: AttemptResult) => void) {
    this.#res = res;
    this.#options = options;
    this.#resolve = resolve;
  }

  start(dispatch: Dispatch): void {
    const { signal } = this.#options;
    if (signal.aborted) {
      this.#settle({ kind: 'aborted' });
      return;
    }
    signal.addEventListener('abort', this.#onAbort, { once: true });
    // HTTP/2 requests go upstream once the read that brought them has been handled, not from
    // within it. Node hands a whole socket read of frames to nghttp2 at once, so a HEADERS frame
    // and the RST_STREAM that cancels it (a rapid reset, CVE-2023-44487; any client that cancels
    // while the proxy is behind) usually arrive together: the abort then comes first and the
    // stream costs no upstream request, dial or socket. 40 bursts of 2,000 pairs, 100 per write,
    // cost the proxy 2.5-3.4 s of CPU dispatched within the read and 0.65-0.74 s deferred, with
    // GOAWAY every time either way; h2load over HTTP/2 measured no slower (docs/design.md).
    // HTTP/1.1 has no such pairs and keeps its synchronous path.
    if (this.#res instanceof ServerResponse) this.#dispatchUnlessSettled(dispatch);
    else setImmediate(ForwardHandler.#dispatchLater, this, dispatch);
  }

  /** One function for every deferred dispatch, rather than a bound one per request. */
  static #dispatchLater(handler: ForwardHandler, dispatch: Dispatch): void {
    handler.#dispatchUnlessSettled(dispatch);
  }

  #dispatchUnlessSettled(dispatch: Dispatch): void {
    if (this.#settled) return;
    // A throw (a pool that cannot be built) fails this attempt: from setImmediate it would be an
    // uncaught exception, and forwardOnce promises never to reject.
    try {
      dispatch(this);
    } catch (err) {
      this.onResponseError(null, err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * The request waits for a connection. Giving up now takes it out of the queue; without that it
   * would wait for its connection and abort there, which destroys that fresh socket (issue 12).
   */
  onQueued(dequeue: (reason: Error) => void): void {
    this.#dequeue = dequeue;
    if (this.#settled) dequeue(abandoned());
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Given up in the moment undici was handing the request to its connection, where the queue
    // no longer lets go of it: the abort costs that connection (the rare case now, see onQueued).
    if (this.#settled) {
      controller.abort(abandoned());
      return;
    }
    this.#controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx interim responses are not relayed, as before (Node's client swallowed them too).
    if (statusCode < 200 || this.#settled) return;
    if (clientGone(this.#res)) {
      // The client's 'close' already fired, so no listener below would ever hear of it: stop here
      // rather than hold the upstream connection for a response nobody reads.
      this.#settle({ kind: 'aborted' });
      controller.abort(abandoned());
      return;
    }
    const hit = this.#options.intercept?.(statusCode, headers);
    if (hit?.kind === 'handle') {
      this.#intercept(controller, hit.index, statusCode, headers);
      return;
    }
    const status = hit?.kind === 'status' ? hit.status : statusCode;
    let out: OutgoingHttpHeaders;
    try {
      out = this.#options.responseHeaders(statusCode, headers);
    } catch (err) {
      this.#settle({ kind: 'failed', error: asError(err), status: 502, dialFailed: false });
      controller.abort(asError(err));
      return;
    }
    if ((this.#options.responseBuffer ?? 0) !== 0) {
      this.#pending = { status, headers: out, upstream: headers, chunks: [], length: 0 };
      return;
    }
    this.#commit(controller, status, out, headers);
  }

  /**
   * Hands the response to a handle_response block: the attempt settles now, the body flows into a
   * stream that pauses the upstream while it is not read, and destroying that stream before the
   * end aborts the upstream request (Caddy closes res.Body).
   */
  #intercept(controller: Dispatcher.DispatchController, index: number, status: number, headers: IncomingHttpHeaders): void {
    const body = new Readable({
      read: () => controller.resume(),
      destroy: (err, done) => {
        if (!this.#complete) controller.abort(abandoned());
        done(err);
      },
    });
    this.#body = body;
    const relayHeaders = (): OutgoingHttpHeaders => this.#options.responseHeaders(status, headers);
    this.#settle({ kind: 'intercepted', index, response: { status, headers, body, relayHeaders } });
  }

  /** Sends the status and headers to the client; from here on a failure can only cut it off. */
  #commit(controller: Dispatcher.DispatchController, statusCode: number, out: OutgoingHttpHeaders, upstream: IncomingHttpHeaders): boolean {
    const res = this.#res;
    try {
      if (res instanceof ServerResponse || isEventStream(upstream)) writeHead(res, statusCode, out);
      else deferHead(res, statusCode, out);
    } catch (err) {
      this.#settle({ kind: 'failed', error: asError(err), status: 502, dialFailed: false });
      controller.abort(asError(err));
      return false;
    }
    this.#responded = true;
    this.#status = statusCode;
    if (res instanceof ServerResponse && isStreaming(upstream)) res.flushHeaders();
    res.once('close', () => {
      // The client left mid-body: stop the upstream too (the abort signal usually did already).
      if (!this.#complete) controller.abort(abandoned());
      this.#settle({ kind: 'done', status: statusCode });
    });
    return true;
  }

  /** Sends what response_buffers held back: the head, then the buffered body. */
  #flushPending(controller: Dispatcher.DispatchController): boolean {
    const pending = this.#pending;
    if (pending === undefined) return true;
    this.#pending = undefined;
    if (!this.#commit(controller, pending.status, pending.headers, pending.upstream)) return false;
    for (const chunk of pending.chunks) this.onResponseData(controller, chunk);
    return true;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#body !== undefined) {
      if (!this.#body.destroyed && !this.#body.push(chunk)) controller.pause();
      return;
    }
    const pending = this.#pending;
    if (pending !== undefined) {
      pending.chunks.push(chunk);
      pending.length += chunk.length;
      const limit = this.#options.responseBuffer ?? 0;
      if (limit > 0 && pending.length >= limit) this.#flushPending(controller);
      return;
    }
    const res = this.#res;
    if (clientGone(res)) {
      // A write to a closed HTTP/2 stream returns false and 'drain' never comes: pausing here
      // would hold the upstream connection for good (issue 7: 1,024 of them wedged the pool).
      if (!this.#complete) controller.abort(abandoned());
      return;
    }
    if (!writeChunk(res, chunk)) {
      controller.pause();
      res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.#body !== undefined) {
      this.#complete = true;
      if (!this.#body.destroyed) this.#body.push(null);
      return;
    }
    if (!this.#flushPending(controller)) return;
    this.#complete = true;
    // Trailers pass through (gRPC puts grpc-status and grpc-message there). Over HTTP/2 they end
    // the stream; over HTTP/1.1 Node sends them only in a chunked body, as the protocol allows.
    const fields = trailerFields(trailers);
    if (fields !== undefined && !clientGone(this.#res)) this.#res.addTrailers(fields);
    this.#res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.#body !== undefined) {
      this.#body.destroy(error);
      return;
    }
    if (this.#responded) {
      // The upstream vanished or went silent mid-body: cut the client off rather than end a
      // truncated body cleanly.
      if (!this.#res.writableEnded) this.#res.destroy();
      this.#settle({ kind: 'done', status: this.#status });
      return;
    }
    if (this.#settled) return;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const dialFailed = this.#controller === undefined && !LOCAL_ERRORS.has(code);
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      const timeout = new UpstreamTimeoutError('dial', this.#options.dialTimeoutMs, { cause: error });
      this.#settle({ kind: 'failed', error: timeout, status: 504, dialFailed });
      return;
    }
    const header = this.#options.headerTimeout;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' && header !== undefined) {
      const timeout = new UpstreamTimeoutError(header.phase, header.ms, { cause: error });
      this.#settle({ kind: 'failed', error: timeout, status: 504, dialFailed });
      return;
    }
    this.#settle({ kind: 'failed', error, status: 502, dialFailed });
  }

  readonly #onAbort = (): void => {
    if (this.#settled) return;
    if (this.#responded) {
      // Mid-body: a no-op when the client already left, cuts the response when ctx.signal gave up.
      if (!this.#res.writableEnded) this.#res.destroy();
      this.#settle({ kind: 'done', status: this.#status });
    } else {
      this.#settle({ kind: 'aborted' });
    }
    if (this.#controller !== undefined) this.#controller.abort(abandoned());
    else this.#dequeue?.(abandoned());
  };

  #settle(result: AttemptResult): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#options.signal.removeEventListener('abort', this.#onAbort);
    this.#resolve(result);
  }
}

/** Whether the request carries a body (so it must be streamed and cannot be replayed once sent). */
export function requestHasBody(req: ProxyRequest): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  if (req.httpVersionMajor >= 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Server-sent events and bodies of unknown length are flushed as they come (Caddy does the same
 * whatever flush_interval says); their headers go out at once so the client sees the stream open.
 */
export function isStreaming(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'] ?? '';
  return type.toLowerCase().startsWith('text/event-stream') || headers['content-length'] === undefined;
}

function isEventStream(headers: IncomingHttpHeaders): boolean {
  return (headers['content-type'] ?? '').toLowerCase().startsWith('text/event-stream');
}

/**
 * HTTP/2 response headers that go out with the first DATA frame or with the end, as Go's server
 * sends them. A response that ends without body or trailers then leaves as one HEADERS frame with
 * END_STREAM: gRPC's trailers-only form (an error status in the headers), which a client reads as
 * no status at all when HEADERS and an empty END_STREAM DATA frame arrive apart.
 */
function deferHead(res: Http2ServerResponse, status: number, headers: OutgoingHttpHeaders): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value);
}

export function writeHead(res: ProxyResponse, status: number, headers: OutgoingHttpHeaders): void {
  if (res instanceof ServerResponse) res.writeHead(status, headers);
  else res.writeHead(status, headers);
}

/**
 * Whether the client side of `res` closed before the proxy ended it: the HTTP/1 connection went
 * away, or the HTTP/2 stream was reset (RST_STREAM, or the session closed). Call it from a 'close'
 * listener or at any time after.
 *
 * `writableFinished` alone cannot tell this for HTTP/2: Http2ServerResponse reports it true as soon
 * as its stream closes, reset or not, and has no `destroyed`. Only `writableEnded` (end() was
 * called) separates a finished exchange from an abandoned one there.
 */
export function clientGone(res: ProxyResponse): boolean {
  if (res instanceof ServerResponse) return res.destroyed && !res.writableFinished;
  return !res.writableEnded && (res.stream.destroyed || res.stream.closed);
}

function writeChunk(res: ProxyResponse, chunk: Buffer): boolean {
  return res instanceof ServerResponse ? res.write(chunk) : res.write(chunk);
}

/** Trailer fields worth relaying, or undefined when there are none. */
function trailerFields(trailers: IncomingHttpHeaders | undefined): Record<string, string | string[]> | undefined {
  if (trailers === undefined) return undefined;
  let out: Record<string, string | string[]> | undefined;
  for (const [name, value] of Object.entries(trailers)) {
    if (value === undefined || name.startsWith(':')) continue;
    (out ??= {})[name] = value;
  }
  return out;
}

/**
 * The reason handed to undici when the proxy stops an upstream request. It only comes back to
 * handlers that have already settled, so one instance serves every request: a new Error each time
 * (its stack captured on the cancelled request's deep call path) was ~6% of the proxy's CPU under
 * the issue 12 abuse run (10,000 cancelled + 2,000 reset HTTP/2 streams).
 */
const ABANDONED = new Error('request abandoned by the client or the server');

function abandoned(): Error {
  return ABANDONED;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
