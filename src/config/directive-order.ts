/**
 * Where each handler directive runs, as Caddy's Caddyfile adapter decides it
 * (httpcaddyfile/directives.go, defaultDirectiveOrder and sortRoutes, Caddy 2.11): a site's or
 * a handle block's routes run in this table's order whatever order they were written in; the
 * `order` global option moves a directive; `route { }` blocks keep the order written.
 * Directives my-server does not implement stay in the table so that `order X before Y` and the
 * positions of the others stay Caddy's.
 */
import type { MatcherSet, Route } from './types.ts';

export const DEFAULT_DIRECTIVE_ORDER: readonly string[] = [
  'tracing',
  'map',
  'vars',
  'fs',
  'root',
  'log_append',
  'skip_log',
  'log_skip',
  'log_name',
  'header',
  'copy_response_headers',
  'request_body',
  'redir',
  'method',
  'rewrite',
  'uri',
  'try_files',
  'basicauth',
  'basic_auth',
  'forward_auth',
  'request_header',
  'encode',
  'push',
  'intercept',
  'templates',
  'invoke',
  'handle',
  'handle_path',
  'route',
  'abort',
  'error',
  'copy_response',
  'respond',
  'metrics',
  'reverse_proxy',
  'php_fastcgi',
  'file_server',
  'acme_server',
];

/**
 * Directives whose routes at one level exclude each other: once one ran, the others of the same
 * directive are skipped (Caddy's "mutuallyExclusiveDirs": a later rewrite must not rewrite the
 * result of an earlier one; handle blocks by definition; root only sets a variable).
 */
const MUTUALLY_EXCLUSIVE: ReadonlySet<string> = new Set(['rewrite', 'handle', 'root']);

/** `order DIRECTIVE first|last|before OTHER|after OTHER`, applied in the order written. */
export interface OrderRule {
  readonly directive: string;
  readonly position: 'first' | 'last' | 'before' | 'after';
  readonly other?: string;
}

/** The table with the `order` rules applied. */
export function directiveOrder(rules: readonly OrderRule[] = []): readonly string[] {
  const order = [...DEFAULT_DIRECTIVE_ORDER];
  for (const rule of rules) {
    const at = order.indexOf(rule.directive);
    if (at >= 0) order.splice(at, 1);
    if (rule.position === 'first') order.unshift(rule.directive);
    else if (rule.position === 'last') order.push(rule.directive);
    else {
      // The parser checked that `other` is a known directive, so it is in the table.
      const other = order.indexOf(rule.other ?? '');
      order.splice(rule.position === 'before' ? other : other + 1, 0, rule.directive);
    }
  }
  return order;
}

/**
 * The directive a route sorts as. handle_path sorts (and groups) as handle, as in Caddy
 * (normalizeDirectiveName); a route may name its directive when its kind serves several.
 * handle_errors blocks are not in the table: they sort last and the router takes them out of the
 * chain (they run only on errors).
 */
export function directiveOf(route: Route): string {
  if (route.kind === 'handle') return route.directive ?? 'handle';
  return route.directive ?? route.kind;
}

/**
 * Stable sort with the Caddyfile adapter's rules: by directive; for the same directive, when both
 * have one path (the only path of a set's path matcher) the longer first, except that of two paths
 * equal but for a trailing `*` the shorter comes first; otherwise a route with a matcher before one
 * without. `vars` reverses that, so the most specific match is applied last and wins. Then each
 * mutually exclusive directive's routes get a group name unique to this list (also when
 * `sort` is false, for the routes of a `route` block).
 */
export function sortRoutes(routes: readonly Route[], order: readonly string[], groupIds: { next: number }, sort = true): Route[] {
  const position = new Map(order.map((d, i) => [d, i]));
  // A route block keeps the order written, but its handle blocks still exclude each other (Caddy's buildSubroute).
  const sorted = !sort ? routes : [...routes].sort((a, b) => {
    const da = directiveOf(a);
    const db = directiveOf(b);
    if (da !== db) return (position.get(da) ?? order.length) - (position.get(db) ?? order.length);
    const byPath = specificityFirst(a.matcher, b.matcher);
    return da === 'vars' ? -byPath : byPath;
  });
  const groups = new Map<string, string>();
  return sorted.map((r) => {
    const dir = directiveOf(r);
    if (!MUTUALLY_EXCLUSIVE.has(dir)) return r;
    let group = groups.get(dir);
    if (group === undefined) {
      group = `group${groupIds.next++}`;
      groups.set(dir, group);
    }
    return { ...r, group };
  });
}

function onePath(set: MatcherSet | undefined): string | undefined {
  const path = set?.matchers.find((m) => m.type === 'path');
  return path?.type === 'path' && path.paths.length === 1 ? path.paths[0] : undefined;
}

function specificityFirst(a: MatcherSet | undefined, b: MatcherSet | undefined): number {
  const pa = onePath(a);
  const pb = onePath(b);
  if (pa !== undefined && pb !== undefined) {
    if (pa.replace(/\*$/, '') === pb.replace(/\*$/, '')) return pa.length - pb.length;
    return pb.length - pa.length;
  }
  const ha = a !== undefined && a.matchers.length > 0;
  const hb = b !== undefined && b.matchers.length > 0;
  if (ha && !hb) return -1;
  if (!ha && hb) return 1;
  return 0;
}
