/**
 * Errors raised by handlers and the ones that answer without a response: error, abort.
 * A HandlerError travels up the chain to SiteRouter.handle, which runs the site's handle_errors
 * routes for it (or answers its status with an empty body), as Caddy's server does with a
 * handler's error (modules/caddyhttp/server.go, errors routes).
 */
import { constants as h2 } from 'node:http2';
import { ServerResponse, STATUS_CODES } from '../../util/node-http.ts';
import type { AbortRoute, ErrorRoute } from '../../config/types.ts';
import { expandPlaceholders, type Res } from '../context.ts';
import type { HandlerCompiler } from './types.ts';

/** A handler's failure with the HTTP status to answer: `error`, request_body's 413, and later the proxy's 502/504. */
export class HandlerError extends Error {
  readonly status: number;
  constructor(status: number, message = '', options?: { cause?: unknown }) {
    super(message === '' ? (STATUS_CODES[status] ?? `HTTP ${status}`) : message, options);
    this.name = 'HandlerError';
    this.status = status;
    this.detail = message;
  }
  /** The message as given: Caddy's {err.message}, empty for `error 503`. */
  readonly detail: string;
}

export const error: HandlerCompiler<ErrorRoute> = (r) => ({
  step: (req, _res, ctx) => {
    throw new HandlerError(r.status, expandPlaceholders(r.message, req, ctx));
  },
});

export const abort: HandlerCompiler<AbortRoute> = () => ({
  step: (_req, res, ctx) => {
    if (ctx.upgrade) ctx.upgrade.socket.destroy();
    else abortResponse(res);
    return true;
  },
});

/**
 * Ends the exchange without a response, as Go's http.ErrAbortHandler does: HTTP/1 closes the
 * connection, HTTP/2 resets only this stream (INTERNAL_ERROR, Go's choice too).
 */
export function abortResponse(res: Res): void {
  if (res instanceof ServerResponse) res.socket?.destroy();
  else res.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
}
