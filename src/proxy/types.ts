/**
 * The proxy's own input types: plain, readonly data with every default already applied and every
 * duration in milliseconds. config/ produces its own types; app.ts adapts them to these, so this
 * folder never imports config/.
 */

/** One backend. `unix` upstreams dial `path` (a socket file); `host` and `port` are then unused. */
export interface UpstreamConfig {
  readonly scheme: 'http' | 'https' | 'unix';
  readonly host: string;
  readonly port: number;
  readonly path?: string;
}

export type LbPolicyName = 'random' | 'round_robin' | 'least_conn' | 'first' | 'ip_hash' | 'uri_hash' | 'header';

export interface LbPolicy {
  readonly name: LbPolicyName;
  /** The request header hashed by the `header` policy; required for it, ignored by the others. */
  readonly header?: string;
}

/** A status code, or a class of them: `2xx` matches 200–299. */
export type StatusMatch = number | '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

export interface ActiveHealthConfig {
  /** Path (and optional query) requested with GET on each upstream, e.g. "/healthz". */
  readonly uri: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly status: StatusMatch;
}

/** Passive health: a failure is remembered for `failDurationMs`; 0 turns passive health off. */
export interface PassiveHealthConfig {
  readonly failDurationMs: number;
  /** Failures within the window that make an upstream unhealthy; at least 1. */
  readonly maxFails: number;
  /** Responses with one of these statuses count as failures (they are still sent to the client). */
  readonly unhealthyStatus: readonly number[];
}

/**
 * A header_up / header_down operation, in the Proxyfile's terms: `NAME VALUE` is set (replace),
 * `+NAME VALUE` is add, `-NAME` is delete. A delete whose name ends in `*` removes every header
 * with that prefix. Values may hold placeholders: {host} {hostport} {remote_host} {scheme} {uri}
 * {method} {upstream_hostport}.
 */
export interface HeaderOp {
  readonly op: 'set' | 'add' | 'delete';
  readonly name: string;
  readonly value?: string;
}

export interface TransportConfig {
  /** Time to establish the connection (TCP and, for TLS upstreams, the handshake). */
  readonly dialTimeoutMs: number;
  /** Time from the request being sent to the response headers arriving; none when absent. */
  readonly responseHeaderTimeoutMs?: number;
  /** Longest silence while reading from the upstream; none when absent. */
  readonly readTimeoutMs?: number;
  /** Speak TLS to every upstream, whatever its scheme (`transport http { tls }`). */
  readonly tls: boolean;
  readonly tlsInsecureSkipVerify: boolean;
  /** SNI and the name the upstream's certificate must match; default the upstream host. */
  readonly tlsServerName?: string;
  /** How long an idle pooled connection is kept; 0 disables keep-alive. */
  readonly keepAliveMs: number;
}

export interface ReverseProxyConfig {
  readonly upstreams: readonly UpstreamConfig[];
  readonly lbPolicy: LbPolicy;
  /** Retries after a failed attempt; 0 = none unless lbTryDurationMs allows them. */
  readonly lbRetries: number;
  /** How long to keep retrying failed attempts; 0 = no time-based retries. */
  readonly lbTryDurationMs: number;
  /** Wait between attempts. */
  readonly lbTryIntervalMs: number;
  readonly health?: ActiveHealthConfig;
  readonly passive: PassiveHealthConfig;
  readonly headerUp: readonly HeaderOp[];
  readonly headerDown: readonly HeaderOp[];
  /**
   * Caddy's flush_interval. The proxy never buffers a response: each chunk is written to the client
   * as it arrives, so every value (-1 included) is honoured; streaming responses (text/event-stream,
   * or no Content-Length) also get their headers sent at once, before the first chunk.
   */
  readonly flushIntervalMs?: number;
  readonly transport: TransportConfig;
}

/**
 * Caddy's defaults: random policy, no retries (250ms interval once enabled), passive health off,
 * 3s dial timeout, 2m idle keep-alive, no response-header or read timeout.
 */
export function defaultReverseProxyConfig(upstreams: readonly UpstreamConfig[]): ReverseProxyConfig {
  return {
    upstreams,
    lbPolicy: { name: 'random' },
    lbRetries: 0,
    lbTryDurationMs: 0,
    lbTryIntervalMs: 250,
    passive: { failDurationMs: 0, maxFails: 1, unhealthyStatus: [] },
    headerUp: [],
    headerDown: [],
    transport: {
      dialTimeoutMs: 3_000,
      tls: false,
      tlsInsecureSkipVerify: false,
      keepAliveMs: 120_000,
    },
  };
}

/** "host:port" (IPv6 bracketed) or "unix//path": how an upstream is named in logs and events. */
export function upstreamAddress(upstream: UpstreamConfig): string {
  if (upstream.scheme === 'unix') return `unix/${upstream.path ?? ''}`;
  const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
  return `${host}:${upstream.port}`;
}
