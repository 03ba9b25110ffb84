import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { HeaderOp } from '../config/types.ts';
import { applyHeaderOps, headerFields } from '../util/header-ops.ts';
import { hostWithoutPort } from '../util/host.ts';
import { expandPlaceholders as expand, type PlaceholderRequest, type PlaceholderScope } from '../util/placeholders.ts';

/** What the forwarding rules need to know about the request being proxied. */
export interface ForwardingContext {
  readonly scheme: 'http' | 'https';
  /** The client's IP address, IPv4-mapped IPv6 unmapped (util/host.ts unmapIPv4). */
  readonly clientIp: string;
  /** The request's authority (util/host.ts requestAuthority); '' when the client sent none. */
  readonly host: string;
  readonly method: string;
  /** Path and query as received. */
  readonly uri: string;
  /** "host:port" of the upstream chosen for this attempt, for {upstream_hostport}. */
  readonly upstreamHostport: string;
  /** The peer is a trusted proxy (`servers { trusted_proxies }`); absent: it is not. */
  readonly trustedPeer?: boolean | undefined;
  /**
   * {client_ip}: the client address by `client_ip_headers` when the peer is trusted (util/ip-ranges.ts
   * clientIp). Absent: `clientIp`, which is right whenever the peer is not a trusted proxy.
   */
  readonly resolvedClientIp?: string | undefined;
  /**
   * The client's request, for placeholders that read it ({header.*}, {cookie.*}, {tls_*},
   * {remote_port} …) in header_up and header_down. Absent: header_up reads the incoming headers.
   */
  readonly request?: PlaceholderRequest | undefined;
  /** {vars.*}, {re.*}, {err.*} …: what matchers and handlers set on the request (routes/context.ts). */
  readonly placeholders?: PlaceholderValues | undefined;
}

/** The part of a request's scope that handlers fill as it goes (RequestContext has both, live). */
export type PlaceholderValues = Pick<PlaceholderScope, 'vars' | 'values'>;

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) plus the non-standard Proxy-Connection, and the proxy
 * authentication fields, which belong to the hop that asked for them (RFC 9110 §11.7).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Fields by which a client could claim another client address, scheme or host. From a peer that
 * is not a trusted proxy they are dropped, and X-Forwarded-* set from what the proxy saw itself.
 * Forwarded (RFC 7239) says the same things in another syntax, so it is treated alike: RFC 7239
 * §8.1 warns that its values "can be easily spoofed" and are only as good as the proxy that added
 * them. The proxy writes no Forwarded of its own (SPEC.md promises X-Forwarded-*, as Caddy sends).
 */
const CLAIMS = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'] as const;

/**
 * Headers for the request to the upstream: the client's headers minus HTTP/2 pseudo-headers,
 * hop-by-hop fields and every field named in Connection; Forwarded and X-Forwarded-* dropped and
 * X-Forwarded-For/-Proto/-Host set to the proxy's own values, unless the peer is a trusted proxy
 * (then, as Caddy: Forwarded passes, X-Forwarded-For gets the peer appended, and a Proto or Host it
 * sent is kept); Host kept as the client sent it (":authority" for HTTP/2); then the header_up
 * operations, which may override any of that (e.g. `header_up Host {upstream_hostport}`).
 *
 * `upgrade` keeps `Upgrade` and sends `Connection: upgrade` (WebSocket handshakes). "TE: trailers"
 * survives, the only TE value a proxy may pass on (RFC 9110 §10.1.4).
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  ctx: ForwardingContext,
  ops: readonly HeaderOp[],
  options: { readonly upgrade?: boolean } = {},
): OutgoingHttpHeaders {
  const out = withoutHopByHop(incoming);
  const trusted = ctx.trustedPeer === true;
  if (!trusted) for (const name of CLAIMS) delete out[name];
  if (teHasTrailers(incoming['te'])) out['te'] = 'trailers';
  if (options.upgrade === true && incoming['upgrade'] !== undefined) {
    out['connection'] = 'upgrade';
    out['upgrade'] = incoming['upgrade'];
  }
  if (ctx.host !== '') out['host'] = ctx.host;
  const priorFor = trusted ? joined(incoming['x-forwarded-for']) : '';
  out['x-forwarded-for'] = priorFor !== '' ? `${priorFor}, ${ctx.clientIp}` : ctx.clientIp;
  out['x-forwarded-proto'] = (trusted ? lastValue(incoming['x-forwarded-proto']) : '') || ctx.scheme;
  const forwardedHost = (trusted ? lastValue(incoming['x-forwarded-host']) : '') || ctx.host;
  if (forwardedHost !== '') out['x-forwarded-host'] = forwardedHost;
  applyOps(out, ops, ctx, incoming);
  return out;
}

/**
 * Headers for the response to the client: the upstream's minus hop-by-hop fields, fields named in
 * its Connection, and Alt-Svc (it advertises the upstream's endpoints, not ours), then header_down.
 */
export function downstreamResponseHeaders(
  upstream: IncomingHttpHeaders,
  ctx: ForwardingContext,
  ops: readonly HeaderOp[],
): OutgoingHttpHeaders {
  const out = withoutHopByHop(upstream);
  delete out['alt-svc'];
  applyOps(out, ops, ctx);
  return out;
}

/** header_up / header_down, in place, with the one implementation (util/header-ops.ts). */
function applyOps(headers: OutgoingHttpHeaders, ops: readonly HeaderOp[], ctx: ForwardingContext, incoming?: IncomingHttpHeaders): void {
  if (ops.length === 0) return;
  applyHeaderOps(headerFields(headers), ops, (value) => expandPlaceholders(value, ctx, incoming));
}

/**
 * Replace {placeholders} in a header value (util/placeholders.ts). Unknown ones stay as written,
 * as in every directive: Caddy's HeaderOps.ApplyTo uses ReplaceKnown for header_up and
 * header_down too. Text without '{' is returned as is, cheaply.
 */
export function expandPlaceholders(value: string, ctx: ForwardingContext, incoming?: IncomingHttpHeaders): string {
  if (!value.includes('{')) return value;
  const req = ctx.request ?? { method: ctx.method, url: ctx.uri, headers: incoming ?? {} };
  return expand(value, req, {
    scheme: ctx.scheme,
    remoteAddress: ctx.clientIp,
    clientIp: ctx.resolvedClientIp ?? ctx.clientIp,
    host: hostWithoutPort(ctx.host),
    hostport: ctx.host,
    upstream: ctx.upstreamHostport,
    vars: ctx.placeholders?.vars,
    values: ctx.placeholders?.values,
  });
}

/**
 * Runs twice per proxied request (request and response heads): a `for…in` instead of
 * Object.entries (no array per field), and no Set unless Connection names a field besides the
 * usual keep-alive / close (measured: 3% of the HTTPS/1.1 request path's CPU, now ~1%).
 */
function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers['connection']);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
    if (HOP_BY_HOP.has(name) || named?.has(name) === true) continue;
    out[name] = value;
  }
  return out;
}

/** The field names Connection lists beyond the hop-by-hop ones (which are dropped anyway); undefined for none. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  let tokens: Set<string> | undefined;
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const token of part.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '' && !HOP_BY_HOP.has(t)) (tokens ??= new Set()).add(t);
    }
  }
  return tokens;
}

function teHasTrailers(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined.split(',').some((t) => t.split(';')[0]?.trim().toLowerCase() === 'trailers');
}

function joined(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(', ') : (value ?? '')).trim();
}

/** The last element of a list-valued field: the hop closest to us (Node joins repeated fields). */
function lastValue(value: string | string[] | undefined): string {
  const list = joined(value);
  return list.slice(list.lastIndexOf(',') + 1).trim();
}
