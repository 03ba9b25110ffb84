import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { HeaderOp } from '../config/types.ts';
import { applyHeaderOps, headerFields } from '../util/header-ops.ts';
import { hostWithoutPort } from '../util/host.ts';
import { expandPlaceholders as expand } from '../util/placeholders.ts';

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
}

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

/** Client-supplied values are never trusted: the proxy sets these from what it saw itself. */
const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'] as const;

/**
 * Headers for the request to the upstream: the client's headers minus HTTP/2 pseudo-headers,
 * hop-by-hop fields and every field named in Connection; X-Forwarded-For/-Proto/-Host replaced by
 * the proxy's own values; Host kept as the client sent it (":authority" for HTTP/2); then the
 * header_up operations, which may override any of that (e.g. `header_up Host {upstream_hostport}`).
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
  for (const name of FORWARDED) delete out[name];
  if (teHasTrailers(incoming['te'])) out['te'] = 'trailers';
  if (options.upgrade === true && incoming['upgrade'] !== undefined) {
    out['connection'] = 'upgrade';
    out['upgrade'] = incoming['upgrade'];
  }
  if (ctx.host !== '') out['host'] = ctx.host;
  out['x-forwarded-for'] = ctx.clientIp;
  out['x-forwarded-proto'] = ctx.scheme;
  if (ctx.host !== '') out['x-forwarded-host'] = ctx.host;
  applyOps(out, ops, ctx);
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
function applyOps(headers: OutgoingHttpHeaders, ops: readonly HeaderOp[], ctx: ForwardingContext): void {
  if (ops.length === 0) return;
  applyHeaderOps(headerFields(headers), ops, (value) => expandPlaceholders(value, ctx));
}

/**
 * Replace {placeholders} in a header value (util/placeholders.ts). Unknown ones stay as written,
 * as in every directive: Caddy's HeaderOps.ApplyTo uses ReplaceKnown for header_up and
 * header_down too. Text without '{' is returned as is, cheaply.
 */
export function expandPlaceholders(value: string, ctx: ForwardingContext): string {
  return expand(
    value,
    () => {
      const q = ctx.uri.indexOf('?');
      return {
        host: hostWithoutPort(ctx.host),
        hostport: ctx.host,
        remoteHost: ctx.clientIp,
        scheme: ctx.scheme,
        uri: ctx.uri,
        path: q < 0 ? ctx.uri : ctx.uri.slice(0, q),
        query: q < 0 ? '' : ctx.uri.slice(q + 1),
        method: ctx.method,
        upstreamHostport: ctx.upstreamHostport,
      };
    },
    'keep',
  );
}

function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers['connection']);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const token of part.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') tokens.add(t);
    }
  }
  return tokens;
}

function teHasTrailers(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined.split(',').some((t) => t.split(';')[0]?.trim().toLowerCase() === 'trailers');
}
