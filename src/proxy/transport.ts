import { isIP } from 'node:net';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
// By path, not undici's index: see undici-parts.d.ts (issue 12, idle memory).
import Pool from 'undici/lib/dispatcher/pool.js';
import buildConnector from 'undici/lib/core/connect.js';
import poolRequest from 'undici/lib/api/api-request.js';
import undiciSymbols from 'undici/lib/core/symbols.js';
import type { TransportConfig, UpstreamConfig } from '../config/types.ts';
import { upstreamAddress } from './upstream-state.ts';


/** One request for an upstream. Headers must be free of the fields undici refuses (see undiciHeaders). */
export interface UpstreamRequest {
  readonly method: string;
  /** Path and query, starting with '/'. */
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  /**
   * Read only once the connection is up, so a request that failed to connect still has its body.
   * A Buffer is a body already read whole (request_buffers).
   */
  readonly body: AsyncIterable<Uint8Array> | Buffer | null;
}

/**
 * An undici DispatchHandler that can give up on its request while it still waits for a connection.
 * `onQueued` is told, each time the request joins a queue (the Pool's, then a Client's), the
 * function that takes it out of that queue; it does nothing once the request reached a connection.
 */
export interface QueueAwareHandler extends Dispatcher.DispatchHandler {
  onQueued?(dequeue: (reason: Error) => void): void;
  /** `controller` is null for a request refused before anything started (see dispatch). */
  onResponseError?(controller: Dispatcher.DispatchController | null, error: Error): void;
}

/**
 * The dispatch option under which undici's Pool and Client look for a queued-abort hook (what its
 * own `signal` support uses). Without it a request given up while its connection was being made
 * stays queued: the connection is made, the request reaches onRequestStart, and the only way out
 * there is abort(), which destroys the brand-new socket (issue 12: after 2,000 reset HTTP/2
 * streams, ~1,000 dials, connects and socket teardowns ran after the client had left).
 */
const QUEUED_ABORT = undiciSymbols.kQueuedAbort;

/** What dispatch() after close() reports: undici's code for a destroyed pool, a local refusal (no dial was tried). */
function transportClosed(): Error {
  return Object.assign(new Error('the upstream transport is closed'), { code: 'UND_ERR_DESTROYED' });
}

/** The timeout that ends the wait for response headers, and the directive it comes from. */
export interface HeaderTimeout {
  readonly ms: number;
  readonly phase: 'response-header' | 'read';
}

/**
 * Connections to upstreams: one undici Pool per upstream (so one slow upstream's connections never
 * starve another's), plain or TLS per the upstream's scheme and `transport { tls }`; HTTP/1.1, or
 * HTTP/2 as `versions` allows (see http2Mode).
 *
 * The pool gets every timeout of the transport: dial_timeout as the connect timeout (TCP plus the
 * TLS handshake), the header timeout below as headersTimeout, read_timeout as bodyTimeout, and
 * keepalive as the idle time of a pooled connection (0 sends `Connection: close` and pools nothing).
 */

export class UpstreamTransport {
  readonly #config: TransportConfig;
  readonly #pools = new Map<string, Pool>();
  readonly #headerTimeout: HeaderTimeout | undefined;
  #closed = false;

  constructor(config: TransportConfig) {
    this.#config = config;
    this.#headerTimeout = headerTimeout(config);
  }

  usesTls(upstream: UpstreamConfig): boolean {
    return upstream.scheme === 'https' || this.#config.tls;
  }

  /** The timeout that gives 504 while waiting for response headers; undefined when there is none. */
  get headerTimeout(): HeaderTimeout | undefined {
    return this.#headerTimeout;
  }

  /**
   * Send `request` to `upstream`; `handler` gets every event (undici's DispatchHandler contract).
   * A request that never reached a connection gets onResponseError without onRequestStart first.
   * A handler with `onQueued` can take its request out of the queue while it waits for a
   * connection; a connection being made for it alone is then abandoned too (undici's
   * cancelUnusedConnect), so a cancelled request leaves no dial behind.
   */
  dispatch(upstream: UpstreamConfig, request: UpstreamRequest, handler: QueueAwareHandler): void {
    if (this.#closed) {
      // An HTTP/2 request dispatches a turn after it started (upstream-request.ts), so one can
      // come after close(): refused as a destroyed pool refuses it, instead of opening a new pool
      // that nothing would ever close (and reaching an upstream the new config may not have).
      handler.onResponseError?.(null, transportClosed());
      return;
    }
    // One object literal, the queue hook first, as before 4da6a74: building it field by field (the
    // hook and servername added afterwards) measured 128-135 vs 107-116 us per proxied request and a
    // p99 of ~35 vs ~14 ms in paired runs against the same upstream (docs/design.md, "A regression
    // from a review").
    this.#poolFor(upstream).dispatch(
      {
        ...(handler.onQueued === undefined ? {} : { [QUEUED_ABORT]: (dequeue: (reason: Error) => void) => handler.onQueued?.(dequeue) }),
        method: request.method,
        path: request.path,
        headers: undiciHeaders(request.headers),
        // undici reads async iterables (its documented body types), though its typings omit them.
        body: request.body as Exclude<Dispatcher.DispatchOptions['body'], undefined>,
        // Pinned per upstream: undici would otherwise derive SNI from each request's Host and drop
        // the TLS connection whenever two sites share an upstream (the connector picks the real SNI).
        ...(this.usesTls(upstream) ? { servername: pinnedServerName(upstream, this.#config) } : {}),
      },
      handler,
    );
  }

  /**
   * One request whose response is read whole (health checks): the status, and the body as text
   * when `readBody` (at most `maxBody` bytes are kept), otherwise drained.
   */
  async probe(
    upstream: UpstreamConfig,
    request: { method: string; path: string; headers: OutgoingHttpHeaders; readBody: boolean; maxBody: number },
    signal: AbortSignal,
  ): Promise<{ status: number; body: string }> {
    const { statusCode, body } = await poolRequest.call(this.#poolFor(upstream), {
      method: request.method,
      path: request.path,
      headers: undiciHeaders(request.headers),
      signal,
      ...(this.usesTls(upstream) ? { servername: pinnedServerName(upstream, this.#config) } : {}),
    });
    if (!request.readBody) {
      await body.dump();
      return { status: statusCode, body: '' };
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size < request.maxBody) chunks.push(chunk.subarray(0, request.maxBody - size));
      size += chunk.length;
    }
    return { status: statusCode, body: Buffer.concat(chunks).toString('utf8') };
  }

  #poolFor(upstream: UpstreamConfig): Pool {
    const key = upstreamAddress(upstream);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = this.#createPool(upstream);
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Destroy every pool: idle connections close and requests still in flight fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }

  #createPool(upstream: UpstreamConfig): Pool {
    const config = this.#config;
    const tls = this.usesTls(upstream);
    const keepAlive = config.keepAliveMs > 0;
    const origin =
      upstream.scheme === 'unix'
        ? `${tls ? 'https' : 'http'}://localhost`
        : `${tls ? 'https' : 'http'}://${upstreamAddress(upstream)}`;
    const h2 = http2Mode(config, tls);
    const connector = buildConnector({
      timeout: config.dialTimeoutMs,
      allowH2: h2 !== 'none',
      // h2c: HTTP/2 with prior knowledge (RFC 9113 §3.3) on the plain socket; TLS: h2 by ALPN,
      // preferred over http/1.1 as Go's transport offers it.
      ...(h2 === 'h2c' ? { useH2c: true } : {}),
      ...(h2 === 'h2' ? { preferH2: true } : {}),
      ...(upstream.scheme === 'unix' ? { socketPath: upstream.path ?? '' } : {}),
      ...(tls ? { rejectUnauthorized: !config.tlsInsecureSkipVerify } : {}),
    });
    const serverName = tls ? sniFor(upstream, config) : undefined;
    return new Pool(origin, {
      // max_conns_per_host: requests beyond it wait in the pool, and the dial timeout only starts
      // once a connection is being made for them. Absent: no limit, as Caddy (Go's MaxConnsPerHost 0).
      connections: config.maxConnsPerHost ?? null,
      // pipelining 0 is undici's "no keep-alive": Connection: close, one request per connection.
      pipelining: keepAlive ? 1 : 0,
      ...(keepAlive ? { keepAliveTimeout: config.keepAliveMs, keepAliveMaxTimeout: config.keepAliveMs } : {}),
      headersTimeout: this.#headerTimeout?.ms ?? 0,
      bodyTimeout: config.readTimeoutMs ?? 0,
      allowH2: h2 !== 'none',
      ...(h2 === 'h2c' ? { useH2c: true } : {}),
      // The pinned name (see dispatch) is only the pool's key: without a real SNI (an IP address or
      // a socket) undici's connector sends none, as for a request without servername.
      connect: ({ servername: _pinned, ...options }, callback) =>
        connector(serverName === undefined ? options : { ...options, servername: serverName }, callback),
    });
  }
}

/**
 * Which HTTP/2 the transport speaks to an upstream (`transport http { versions }`, Caddy's rule in
 * httptransport.go): `h2c` to plain upstreams when the versions name it (every plain request
 * then goes over HTTP/2, as Caddy's h2cTransport takes them all), h2 by ALPN to TLS upstreams
 * when they name `2`. Without versions, HTTP/1.1 only, as before.
 */
export function http2Mode(config: TransportConfig, tls: boolean): 'none' | 'h2' | 'h2c' {
  const versions = config.versions ?? [];
  if (!tls && versions.includes('h2c')) return 'h2c';
  if (tls && versions.includes('2')) return 'h2';
  return 'none';
}

/**
 * Header fields undici refuses: the framing and connection fields it writes itself (hop-by-hop,
 * so nothing of the client's is lost), and Expect, which the front server already answered with
 * 100 Continue before handing the request over.
 */
const REFUSED_BY_UNDICI = new Set(['connection', 'keep-alive', 'upgrade', 'transfer-encoding', 'expect']);

/** `headers` without the fields undici refuses and without numbers (it takes strings). */
export function undiciHeaders(headers: OutgoingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || REFUSED_BY_UNDICI.has(name)) continue;
    out[name] = typeof value === 'number' ? String(value) : value;
  }
  return out;
}

/**
 * Response headers are awaited for response_header_timeout; read_timeout (the longest silence of
 * the upstream) also bounds that wait, as a socket read deadline would. The shorter one wins.
 */
export function headerTimeout(config: TransportConfig): HeaderTimeout | undefined {
  const header = config.responseHeaderTimeoutMs ?? 0;
  const read = config.readTimeoutMs ?? 0;
  if (header <= 0 && read <= 0) return undefined;
  if (header > 0 && (read <= 0 || header <= read)) return { ms: header, phase: 'response-header' };
  return { ms: read, phase: 'read' };
}

/**
 * The name the upstream's certificate must match and the SNI sent: tls_server_name when set,
 * otherwise the upstream's host, except that an IP literal is verified but not sent (RFC 6066
 * §3 allows only host names in SNI).
 */
function sniFor(upstream: UpstreamConfig, config: TransportConfig): string | undefined {
  if (config.tlsServerName !== undefined) return config.tlsServerName;
  if (upstream.scheme === 'unix' || isIP(upstream.host) !== 0) return undefined;
  return upstream.host;
}

/** One constant name per upstream for undici's per-request servername (see dispatch). */
function pinnedServerName(upstream: UpstreamConfig, config: TransportConfig): string {
  return sniFor(upstream, config) ?? upstreamAddress(upstream);
}
