import { expandPlaceholders as expand } from '../util/placeholders.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** The one host rule (util/host.ts), re-exported for the route code that reads it from here. */
export { hostWithoutPort } from '../util/host.ts';

export type Req = IncomingMessage | Http2ServerRequest;
export type Res = ServerResponse | Http2ServerResponse;

/** What a handler knows of the request beyond req/res. `path` changes under handle_path. */
export interface RequestContext {
  readonly scheme: 'http' | 'https';
  readonly remoteAddress: string;
  /** The peer is in the listener's `servers { trusted_proxies }` (http/client-ip.ts); absent: not. */
  trustedPeer?: boolean;
  /** {client_ip}: from client_ip_headers when the peer is trusted, else the peer; absent: the peer. */
  clientIp?: string;
  /** Host without port, lower case. */
  readonly host: string;
  /** The cleaned path handlers match on (see cleanPath); handle_path strips its prefix from it. */
  path: string;
  /** Set when handle_path changed `path`: the upstream then gets that path, not the raw target. */
  rewritten?: boolean;
  readonly query: string;
  readonly signal?: AbortSignal;
  /** Name of the upstream that answered, for the access log. */
  upstream?: string;
  /**
   * Caddy's request variables, by name: set by `vars`, `map` and `log_skip` (which sets
   * `log_skip` = true, as Caddy's does), read by `{vars.NAME}`/`{http.vars.NAME}`, the `vars`
   * matchers and the access log. Created on first write (setVar).
   */
  vars?: Map<string, unknown>;
  /**
   * Placeholder values that matchers and handlers set for the ones after them, by Caddy's full
   * name: `http.regexp.NAME.N` (path_regexp/header_regexp captures, `{re.NAME.N}`),
   * `http.matchers.file.*` (`{file_match.*}`), `http.error.*` (`{err.*}`). Created on first write.
   */
  values?: Map<string, string>;
}

export function setVar(ctx: RequestContext, name: string, value: unknown): void {
  (ctx.vars ??= new Map()).set(name, value);
}

export function setValue(ctx: RequestContext, name: string, value: string): void {
  (ctx.values ??= new Map()).set(name, value);
}

/** The Host of a request: `:authority` for HTTP/2, the Host header for HTTP/1. */
export function requestHost(req: Req): string {
  return (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '';
}

/**
 * Placeholders in directive arguments, by the one resolver (util/placeholders.ts): every Caddy
 * shorthand and long name, read lazily from the request and `ctx` (vars, and the values matchers
 * and handlers set). Unknown ones are left as written, as Caddy's ReplaceKnown does for `respond`,
 * `redir` and header operations.
 */
export function expandPlaceholders(template: string, req: Req, ctx: RequestContext): string {
  return expand(template, req, ctx);
}

/**
 * The path handlers match on, as Caddy matches: percent-escapes decoded, runs of `/` collapsed,
 * `.` and `..` segments resolved (never above the root), so `/%73ecret`, `//secret` and
 * `/a/../secret` all meet a `/secret*` rule. Undefined for a path that does not decode (400).
 * The raw target is still what is forwarded, unless handle_path rewrites it.
 */
export function cleanPath(raw: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith('/')) decoded = `/${decoded}`;
  if (!/\/\/|\/\.\.?(\/|$)/.test(decoded)) return decoded;
  const out: string[] = [];
  const segments = decoded.split('/');
  for (const seg of segments.slice(1)) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const last = segments.at(-1);
  const trailing = decoded.endsWith('/') || last === '.' || last === '..';
  return `/${out.join('/')}${trailing && out.length > 0 ? '/' : ''}`;
}

/** The request-target split into path and query; an absolute-form target (`http://h/p`) gives its path. */
export function splitTarget(url: string): { path: string; query: string } {
  let target = url;
  if (!target.startsWith('/')) {
    try {
      const u = new URL(target);
      target = u.pathname + u.search;
    } catch {
      target = '/';
    }
  }
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}
