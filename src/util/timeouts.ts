/**
 * Timeouts for a public-facing listener (Node's defaults suit a trusted network): a client gets
 * 30 s to finish the TLS handshake (Node: 120 s; long enough for a first on-demand handshake that
 * waits for issuance, which the certificate manager bounds at 25 s) and 20 s to send request
 * headers (Node: 60 s; slowloris); an idle keep-alive connection is kept 60 s (Node: 5 s, which
 * makes browsers reconnect needlessly); a connection with no traffic at all is closed after 2 min.
 */
export const TIMEOUTS = {
  handshakeMs: 30_000,
  headersMs: 20_000,
  keepAliveMs: 60_000,
  idleMs: 120_000,
} as const;

/**
 * What a listener's `servers` block (Caddy's server options) sets on its connections, with the
 * defaults above where it is silent. Caddy's names map onto Node's knobs: read_header →
 * headersTimeout, read_body (Go's ReadTimeout: the whole request) → requestTimeout, idle (Go's
 * IdleTimeout, between requests) → keepAliveTimeout, keepalive_interval → TCP keep-alive probes,
 * max_header_size → the HTTP/1 parser's limit (fixed when the listener opens), write (Go's
 * WriteTimeout) → a per-request deadline (WriteDeadline below), protocols → which HTTP versions
 * the fronts accept (ALPN on TLS, h2c by the connection preface on plain HTTP).
 */
export interface ConnectionLimits {
  /** `protocols` (Caddy's default h1 h2 h3): which HTTP versions a listener speaks. */
  readonly protocols: ListenerProtocols;
  readonly headersMs: number;
  /** 0: no limit on receiving the whole request. */
  readonly requestMs: number;
  readonly keepAliveMs: number;
  readonly idleMs: number;
  readonly keepaliveIntervalMs?: number;
  readonly maxHeaderSize?: number;
  /** Go's WriteTimeout: from a request's headers to the end of its response; 0: none. */
  readonly writeMs: number;
}

export interface ListenerProtocols {
  /** HTTP/1.1 (over TLS: ALPN http/1.1 or none). */
  readonly h1: boolean;
  /** HTTP/2 over TLS (ALPN h2). */
  readonly h2: boolean;
  /** HTTP/2 with prior knowledge on a plain-HTTP listener. */
  readonly h2c: boolean;
  /** Where `protocols` asked for h3, which is not served (Node.js has no QUIC server). */
  readonly h3At?: { readonly file: string; readonly line: number; readonly col: number };
}

interface ServerLimitOptions {
  readonly protocols?: readonly string[];
  readonly h3Pos?: { readonly file: string; readonly line: number; readonly col: number };
  readonly timeouts: { readonly readBodyMs?: number; readonly readHeaderMs?: number; readonly writeMs?: number; readonly idleMs?: number };
  readonly keepaliveIntervalMs?: number;
  readonly maxHeaderSize?: number;
}

/** Caddy's default protocols, without h3: what a listener without a `servers` block speaks. */
const DEFAULT_PROTOCOLS: ListenerProtocols = { h1: true, h2: true, h2c: false };

/** The limits a listener's `servers` block sets (http/client-ip.ts serverOptionsFor picks it); none: the defaults. */
export function connectionLimits(block: ServerLimitOptions | undefined): ConnectionLimits {
  const t = block?.timeouts ?? {};
  const p = block?.protocols;
  return {
    protocols: p === undefined
      ? DEFAULT_PROTOCOLS
      : { h1: p.includes('h1'), h2: p.includes('h2'), h2c: p.includes('h2c'), ...(block?.h3Pos !== undefined ? { h3At: block.h3Pos } : {}) },
    headersMs: t.readHeaderMs ?? TIMEOUTS.headersMs,
    requestMs: t.readBodyMs ?? 0,
    keepAliveMs: t.idleMs ?? TIMEOUTS.keepAliveMs,
    // The socket's inactivity limit must not cut an idle keep-alive connection Caddy would keep.
    idleMs: Math.max(TIMEOUTS.idleMs, (t.idleMs ?? 0) + 1_000),
    ...(block?.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: block.keepaliveIntervalMs } : {}),
    ...(block?.maxHeaderSize !== undefined ? { maxHeaderSize: block.maxHeaderSize } : {}),
    writeMs: t.writeMs ?? 0,
  };
}

/**
 * http.Server options fixed when a listener opens: the parser's header limit, and how often Node
 * checks header and request timeouts (its default, every 30 s, would let a 1 s read_header run
 * 30 s; a quarter of the shorter timeout, at most 5 s, keeps them within 25%).
 */
export function serverCreateOptions(l: ConnectionLimits): { connectionsCheckingInterval: number; maxHeaderSize?: number } {
  const shortest = Math.min(l.headersMs, l.requestMs === 0 ? Infinity : l.requestMs);
  return {
    connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(shortest / 4))),
    ...(l.maxHeaderSize !== undefined ? { maxHeaderSize: l.maxHeaderSize } : {}),
  };
}

/** Applies the limits that can change on a running http.Server (all but maxHeaderSize). */
export function applyLimits(server: { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; timeout: number }, l: ConnectionLimits): void {
  server.headersTimeout = l.headersMs;
  // Node checks headersTimeout against requestTimeout only when both are set: keep them coherent.
  server.requestTimeout = l.requestMs === 0 ? 0 : Math.max(l.requestMs, l.headersMs);
  server.keepAliveTimeout = l.keepAliveMs;
  server.timeout = l.idleMs;
}

/**
 * Go's WriteTimeout, per request: net/http sets the connection's write deadline when it has read a
 * request's headers (HTTP/1), x/net/http2 starts a timer when a stream opens; either way the
 * response must be written by then. Node has no write deadline, so a timer starts when the request
 * is handed over and ends the exchange on expiry: the HTTP/1.1 connection is destroyed (a Go
 * server's failed write closes it too: the client sees the connection close, no or a truncated
 * response), an HTTP/2 stream is reset with INTERNAL_ERROR (what x/net/http2's onWriteTimeout
 * sends). Unlike Go, the cut comes at the deadline rather than at the handler's next write, which
 * frees the upstream request sooner; long streams (SSE, downloads) are cut alike. Upgraded
 * connections (WebSocket) are not requests here and get no deadline. `ms` follows a reload.
 */
export class WriteDeadline {
  ms = 0;

  /** `onRequest`, arming the deadline first when one is set (a single comparison otherwise). */
  wrap<Q, S extends DeadlineResponse>(onRequest: (req: Q, res: S) => void): (req: Q, res: S) => void {
    return (req, res) => {
      if (this.ms > 0) armWriteDeadline(res, this.ms);
      onRequest(req, res);
    };
  }
}

/** What the deadline needs of an http.ServerResponse or an Http2ServerResponse. */
interface DeadlineResponse {
  once(event: 'finish' | 'close', listener: () => void): unknown;
  readonly writableFinished: boolean;
  destroy(): unknown;
  readonly stream?: { close(code?: number): void; readonly destroyed: boolean };
}

/** NGHTTP2_INTERNAL_ERROR (RFC 9113 §7), the code Go resets a timed-out stream with. */
const INTERNAL_ERROR = 0x2;

function armWriteDeadline(res: DeadlineResponse, ms: number): void {
  const timer = setTimeout(() => {
    if (res.writableFinished) return;
    if (res.stream !== undefined) {
      if (!res.stream.destroyed) res.stream.close(INTERNAL_ERROR);
    } else {
      res.destroy();
    }
  }, ms);
  const clear = (): void => clearTimeout(timer);
  res.once('finish', clear);
  res.once('close', clear);
}

/** The ALPN protocols a TLS listener offers, in preference order: h2 first, as Go and Caddy do. */
export function alpnFor(p: ListenerProtocols): string[] {
  return [...(p.h2 ? ['h2'] : []), ...(p.h1 ? ['http/1.1'] : [])];
}

