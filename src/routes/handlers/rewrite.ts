/**
 * rewrite, uri and method: change the request that every later handler matches on and the
 * upstream receives (Caddy's rewrite.go Rewrite). The decoded path lives in ctx.path, the raw query
 * in ctx.query; req.url is kept equal to them so that `{uri}` and the proxy see the new target.
 */
import type { QueryOp, RewriteRoute } from '../../config/types.ts';
import { expandPlaceholders, type Req, type RequestContext } from '../context.ts';
import { decodePath, escapePath, queryEscape, rewriteUri } from '../../util/rewrite-uri.ts';
import { stripPrefix } from './blocks.ts';
import type { HandlerCompiler } from './types.ts';

export const rewrite: HandlerCompiler<RewriteRoute> = (r) => {
  const regexp = r.pathRegexp && new RegExp(r.pathRegexp.search, `${r.pathRegexp.flags}g`);
  return {
    step: (req, res, ctx) => {
      const expand = (text: string): string => expandPlaceholders(text, req, ctx);
      // Http2ServerRequest types its method read-only, but both request classes let it be set.
      if (r.method !== undefined) (req as { method: string }).method = expand(r.method).toUpperCase();
      let path = ctx.path;
      let query = ctx.query;
      if (r.uri !== undefined) ({ path, query } = rewriteUri(r.uri, expand, path, query));
      if (r.stripPrefix !== undefined) path = stripPrefix(path, expand(r.stripPrefix));
      if (r.stripSuffix !== undefined) path = stripSuffix(path, expand(r.stripSuffix));
      if (r.replace !== undefined) {
        const find = expand(r.replace.find);
        const by = expand(r.replace.replace);
        path = decodePath(replaceN(escapePath(path), find, by, r.replace.limit));
        query = replaceN(query, find, by, r.replace.limit);
      }
      if (regexp !== undefined && r.pathRegexp !== undefined) {
        path = decodePath(escapePath(path).replace(regexp, expand(r.pathRegexp.replace)));
      }
      if (r.query !== undefined) query = applyQueryOps(query, r.query, expand);
      setTarget(req, ctx, path, query);
      return false;
    },
  };
};

/** The request now targets `path` (decoded) and `query` (raw): for matchers, placeholders and the upstream. */
export function setTarget(req: Req, ctx: RequestContext, path: string, query: string): void {
  if (path === ctx.path && query === ctx.query) return;
  ctx.path = path;
  // RequestContext.query is readonly for the handlers that only read it; the rewriters own it.
  (ctx as { query: string }).query = query;
  ctx.rewritten = true;
  req.url = escapePath(path) + (query !== '' ? `?${query}` : '');
}





function queryUnescape(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** strings.Replace: the first `limit` occurrences (0: all). */
function replaceN(s: string, find: string, by: string, limit: number): string {
  if (find === '') return s;
  let out = '';
  let from = 0;
  for (let n = 0; limit === 0 || n < limit; n++) {
    const at = s.indexOf(find, from);
    if (at < 0) break;
    out += s.slice(from, at) + by;
    from = at + find.length;
  }
  return out + s.slice(from);
}

/** Case-insensitive, as Caddy's trimPathSuffix; the path keeps its leading `/`. */
function stripSuffix(path: string, suffix: string): string {
  if (suffix === '' || !path.toLowerCase().endsWith(suffix.toLowerCase())) return path;
  const rest = path.slice(0, path.length - suffix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** Caddy's queryOps.do: rename, set, add, delete; the result encoded as Go's Values.Encode does (keys sorted). */
function applyQueryOps(query: string, ops: readonly QueryOp[], expand: (text: string) => string): string {
  const values = new Map<string, string[]>();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : queryUnescape(pair.slice(eq + 1));
    values.set(key, [...(values.get(key) ?? []), value]);
  }
  for (const kind of ['rename', 'set', 'add', 'delete'] as const) {
    for (const op of ops) {
      if (op.op !== kind) continue;
      const key = expand(op.key);
      if (key === '') continue;
      const value = expand(op.value ?? '');
      if (kind === 'rename') {
        const old = values.get(key);
        if (value === '' || value === key || old === undefined) continue;
        values.set(value, old);
        values.delete(key);
      } else if (kind === 'set') values.set(key, [value]);
      else if (kind === 'add') values.set(key, [...(values.get(key) ?? []), value]);
      else values.delete(key);
    }
  }
  return [...values.keys()]
    .sort()
    .flatMap((k) => (values.get(k) ?? []).map((v) => `${queryEscape(k)}=${queryEscape(v)}`))
    .join('&');
}
