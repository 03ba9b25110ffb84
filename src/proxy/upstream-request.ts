import { ServerResponse, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';

/** An HTTP/1 request or an HTTP/2 compatibility-API request. */
export type ProxyRequest = IncomingMessage | Http2ServerRequest;
export type ProxyResponse = ServerResponse | Http2ServerResponse;

/** The upstream did not answer in time; `phase` says which timeout fired. */
export class UpstreamTimeoutError extends Error {
  readonly phase: 'dial' | 'response-header' | 'read';
  constructor(phase: 'dial' | 'response-header' | 'read', ms: number) {
    super(`${phase} timeout after ${ms}ms`);
    this.name = 'UpstreamTimeoutError';
    this.phase = phase;
  }
}

export type AttemptResult =
  /** The upstream answered and the response was relayed (or cut off after its headers). */
  | { readonly kind: 'done'; readonly status?: number }
  /** `signal` aborted before the upstream's response headers; nothing was sent to the client. */
  | { readonly kind: 'aborted' }
  | {
      readonly kind: 'failed';
      readonly error: Error;
      readonly status: 502 | 504;
      /** The connection was never established, so the upstream cannot have seen the request. */
      readonly dialFailed: boolean;
      /** A pooled connection the upstream had closed; a bodiless request may go again at once. */
      readonly stale: boolean;
    };

export interface AttemptOptions {
  readonly tls: boolean;
  readonly hasBody: boolean;
  readonly dialTimeoutMs: number;
  readonly responseHeaderTimeoutMs?: number;
  readonly readTimeoutMs?: number;
  /** Turns the upstream's status and headers into the client's; may throw on invalid headers. */
  readonly responseHeaders: (upstream: IncomingMessage) => OutgoingHttpHeaders;
  readonly signal: AbortSignal;
}

/**
 * One attempt: send `req` through `proxyReq` and relay the response to `res`. Never rejects.
 *
 * The request body is piped only once the connection is up, so after a dial failure the body is
 * still unread and the request can be retried elsewhere. Failures before the response headers
 * come back as `failed` (the caller answers 502/504); after them the client's response is cut
 * off, as nothing truthful can be said once a status was sent.
 */
export function forwardOnce(
  req: ProxyRequest,
  res: ProxyResponse,
  proxyReq: ClientRequest,
  options: AttemptOptions,
): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve) => {
    let connected = false;
    let responded = false;
    let settled = false;
    let dialTimer: NodeJS.Timeout | undefined;
    let headerTimer: NodeJS.Timeout | undefined;

    const settle = (result: AttemptResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(dialTimer);
      clearTimeout(headerTimer);
      options.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const onAbort = (): void => {
      proxyReq.destroy();
      if (!responded) {
        settle({ kind: 'aborted' });
        return;
      }
      // Mid-body: a no-op when the client already left, cuts the response when ctx.signal gave up.
      if (!res.writableEnded) res.destroy();
      settle({ kind: 'done' });
    };
    const onConnected = (): void => {
      clearTimeout(dialTimer);
      connected = true;
      const { readTimeoutMs } = options;
      if (readTimeoutMs !== undefined && readTimeoutMs > 0) {
        proxyReq.setTimeout(readTimeoutMs, () => proxyReq.destroy(new UpstreamTimeoutError('read', readTimeoutMs)));
      }
      if (options.hasBody) req.pipe(proxyReq);
    };

    proxyReq.on('error', (err: Error) => {
      if (responded) {
        res.destroy(err);
        settle({ kind: 'done' });
        return;
      }
      const status = err instanceof UpstreamTimeoutError ? 504 : 502;
      const stale = connected && proxyReq.reusedSocket && !options.hasBody;
      settle({ kind: 'failed', error: err, status, dialFailed: !connected, stale });
    });
    proxyReq.once('socket', (socket: Socket) => {
      if (proxyReq.reusedSocket || (!options.tls && !socket.connecting)) {
        onConnected();
        return;
      }
      dialTimer = setTimeout(
        () => proxyReq.destroy(new UpstreamTimeoutError('dial', options.dialTimeoutMs)),
        options.dialTimeoutMs,
      );
      socket.once(options.tls ? 'secureConnect' : 'connect', onConnected);
    });
    proxyReq.once('finish', () => {
      const ms = options.responseHeaderTimeoutMs;
      if (ms !== undefined && ms > 0 && !responded) {
        headerTimer = setTimeout(() => proxyReq.destroy(new UpstreamTimeoutError('response-header', ms)), ms);
      }
    });
    proxyReq.once('response', (proxyRes: IncomingMessage) => {
      responded = true;
      clearTimeout(headerTimer);
      const status = proxyRes.statusCode ?? 502;
      let headers: OutgoingHttpHeaders;
      try {
        headers = options.responseHeaders(proxyRes);
        writeHead(res, status, headers);
      } catch (err) {
        proxyReq.destroy();
        responded = false;
        settle({ kind: 'failed', error: asError(err), status: 502, dialFailed: false, stale: false });
        return;
      }
      if (res instanceof ServerResponse && isStreaming(proxyRes)) res.flushHeaders();
      proxyRes.once('close', () => {
        // The upstream vanished mid-body: cut the client off rather than end a truncated body cleanly.
        if (!proxyRes.complete && !res.writableFinished) res.destroy();
      });
      proxyRes.on('error', () => {});
      proxyRes.pipe(res);
      res.once('close', () => {
        if (!proxyRes.complete) proxyReq.destroy();
        settle({ kind: 'done', status });
      });
    });
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
    if (!options.hasBody) proxyReq.end();
  });
}

/** Whether the request carries a body (so it must be piped and cannot be replayed once sent). */
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
export function isStreaming(proxyRes: IncomingMessage): boolean {
  const type = proxyRes.headers['content-type'] ?? '';
  return type.toLowerCase().startsWith('text/event-stream') || proxyRes.headers['content-length'] === undefined;
}

export function writeHead(res: ProxyResponse, status: number, headers: OutgoingHttpHeaders): void {
  if (res instanceof ServerResponse) res.writeHead(status, headers);
  else res.writeHead(status, headers);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
