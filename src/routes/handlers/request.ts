/** Handlers on the request itself: request_header, request_body; and metrics. */
import { ServerResponse } from '../../util/node-http.ts';
import { constants as h2 } from 'node:http2';
import { Readable } from 'node:stream';
import type { MetricsRoute, RequestBodyRoute, RequestHeaderRoute } from '../../config/types.ts';
import { applyHeaderOps, headerFields } from '../../util/header-ops.ts';
import { expandPlaceholders, type Req, type Res } from '../context.ts';
import { HandlerError } from './errors.ts';
import type { HandlerCompiler } from './types.ts';

/** Operations on the request's headers: later matchers, placeholders and the upstream see the result. */
export const requestHeader: HandlerCompiler<RequestHeaderRoute> = (r) => ({
  step: (req, _res, ctx) => {
    applyHeaderOps(headerFields(req.headers), r.ops, (v) => expandPlaceholders(v, req, ctx));
    return false;
  },
});

/**
 * request_body max_size: a Content-Length above it is refused at once (413, through the site's
 * handle_errors like any handler error); a body without one (chunked, or HTTP/2 DATA) is counted
 * as it arrives, and the chunk that passes the limit and everything after it are never handed to
 * whoever reads the body (the proxy), while the client gets its 413 at once.
 */
export const requestBody: HandlerCompiler<RequestBodyRoute> = (r) => ({
  step: (req, res) => {
    const max = r.maxSize;
    if (max === undefined) return false;
    const length = Number(req.headers['content-length'] ?? 0);
    // Also a body without a length that has already arrived past the limit: nobody has read it yet.
    if (length > max || req.readableLength > max) throw new HandlerError(413, 'request body too large');
    limitBody(req, res, max);
    return false;
  },
});

/**
 * Counts the body where the connection hands it to the request stream (push, for HTTP/1 and
 * HTTP/2 alike), so nothing past the limit is ever readable. Past it the client gets a bare 413
 * and, on HTTP/1, `Connection: close`: Node then closes the connection once the 413 is out, which
 * ends the body stream early, and the proxy abandons the upstream request.
 */
function limitBody(req: Req, res: Res, max: number): void {
  let seen = req.readableLength;
  let over = false;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (over) return true;
    if (chunk !== null) {
      seen += typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : (chunk as Uint8Array).byteLength;
      if (seen > max) {
        over = true;
        tooLarge(req, res);
        return true;
      }
    }
    return push(chunk, encoding);
  };
}

/**
 * The bare 413, then the end of the body stream for its reader: once the response is out, Node no
 * longer counts the request as open, so closing the connection would not end the body stream
 * by itself; destroying the request after the connection closed (gracefully, once the 413 went
 * out) makes the proxy's body iterator fail, and the proxy abandon the upstream request.
 */
function tooLarge(req: Req, res: Res): void {
  const error = new HandlerError(413, 'request body too large');
  if (res.headersSent) {
    res.destroy();
    req.destroy(error);
    return;
  }
  res.statusCode = 413;
  res.setHeader('content-length', 0);
  if (res instanceof ServerResponse) {
    res.setHeader('connection', 'close');
    const socket = res.socket;
    if (socket !== null) socket.once('close', () => req.destroy(error));
    res.end();
  } else {
    res.end();
    res.once('finish', () => res.stream.close(h2.NGHTTP2_NO_ERROR));
    // Http2ServerRequest.destroy() only closes the stream, whose close then ends the body cleanly
    // (push(null), which the wrapper drops anyway): the reader must see an error instead, or the
    // proxy would finish a truncated chunked body upstream.
    Readable.prototype.destroy.call(req, error);
  }
}

/** What the metrics handler serves: the process's registry (metrics/Metrics satisfies it). */
export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

/**
 * The Prometheus text exposition of the process's metrics. We never negotiate OpenMetrics, so
 * `disable_openmetrics` changes nothing; without a source (a router built without the app's
 * Metrics) the answer is 503.
 */
export const metrics: HandlerCompiler<MetricsRoute> = (_r, cx) => ({
  step: async (req, res) => {
    const source = cx.metrics;
    if (source === undefined) {
      res.statusCode = 503;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end('metrics are not available in this process\n');
      return true;
    }
    const text = await source.text();
    res.statusCode = 200;
    res.setHeader('content-type', source.contentType);
    res.end(req.method === 'HEAD' ? '' : text);
    return true;
  },
});
