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
 * max_header_size → the HTTP/1 parser's limit (fixed when the listener opens).
 */
export interface ConnectionLimits {
  readonly headersMs: number;
  /** 0: no limit on receiving the whole request. */
  readonly requestMs: number;
  readonly keepAliveMs: number;
  readonly idleMs: number;
  readonly keepaliveIntervalMs?: number;
  readonly maxHeaderSize?: number;
}

interface ServerLimitOptions {
  readonly timeouts: { readonly readBodyMs?: number; readonly readHeaderMs?: number; readonly idleMs?: number };
  readonly keepaliveIntervalMs?: number;
  readonly maxHeaderSize?: number;
}

/** The limits a listener's `servers` block sets (http/client-ip.ts serverOptionsFor picks it); none: the defaults. */
export function connectionLimits(block: ServerLimitOptions | undefined): ConnectionLimits {
  const t = block?.timeouts ?? {};
  return {
    headersMs: t.readHeaderMs ?? TIMEOUTS.headersMs,
    requestMs: t.readBodyMs ?? 0,
    keepAliveMs: t.idleMs ?? TIMEOUTS.keepAliveMs,
    // The socket's inactivity limit must not cut an idle keep-alive connection Caddy would keep.
    idleMs: Math.max(TIMEOUTS.idleMs, (t.idleMs ?? 0) + 1_000),
    ...(block?.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: block.keepaliveIntervalMs } : {}),
    ...(block?.maxHeaderSize !== undefined ? { maxHeaderSize: block.maxHeaderSize } : {}),
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
