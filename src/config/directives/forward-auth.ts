/**
 * The `forward_auth` directive, expanded as Caddy expands it (reverseproxy/forwardauth/caddyfile.go):
 *
 *     forward_auth [MATCHER] UPSTREAM... {
 *         uri PATH[?QUERY]                 (required)
 *         copy_headers FIELD|FROM>TO...    (or a block of them, one or more a line)
 *         …any reverse_proxy subdirective (header_up, trusted_proxies, transport, …)
 *     }
 *
 * is a reverse_proxy (sorted as forward_auth, right after basic_auth) that sends the upstream a GET
 * without body to `uri`, with X-Forwarded-Method and X-Forwarded-Uri, and has one response
 * handler first: on a 2xx, each copied field is deleted from the request and set again from the
 * auth response when it has the field (so a client cannot bring its own Remote-User), and the
 * chain goes on to the next handler. Any other response is relayed to the client as it is (the
 * login redirect of Authelia, Authentik and the like).
 *
 * `uri` is the proxy's rewrite URI, rewritten per request as the `rewrite` directive does it
 * (util/rewrite-uri.ts): placeholder values in its query part are query-escaped, as Caddy's
 * buildQueryString does, so `?rd={uri}` carries the client's `&` escaped.
 */
import { configError, posOf } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { HeaderOp, MatcherSet, Pos, ResponseHandler } from '../types.ts';
import type { ReverseProxyDraft, RouteDraft } from '../draft.ts';
import { headerNameArg } from '../values.ts';
import { canonicalHeaderName } from '../../util/header-name.ts';
import { parseReverseProxy } from './reverse-proxy.ts';
import type { RouteParseContext } from './site.ts';

export function parseForwardAuth(node: Node, ctx: RouteParseContext): ReverseProxyDraft {
  let uri: Token | undefined;
  const copies = new Map<string, string>();
  const passed: Node[] = [];
  for (const sub of node.block ?? []) {
    if (sub.name.text === 'uri') {
      const [value, extra] = sub.args;
      if (value === undefined || extra !== undefined || sub.block !== undefined) throw configError(sub.name, 'uri: takes one argument (usage: uri PATH)');
      if (uri !== undefined) throw configError(value, `forward_auth: cannot have duplicate uri: ${value.text}`);
      uri = value;
    } else if (sub.name.text === 'copy_headers') {
      const fields = [...sub.args];
      for (const line of sub.block ?? []) {
        if (line.block !== undefined) throw configError(line.open ?? line.name, 'copy_headers: a field takes no block');
        fields.push(line.name, ...line.args);
      }
      if (fields.length === 0) throw configError(sub.name, 'copy_headers: missing argument (usage: copy_headers FIELD|FROM>TO...)');
      for (const tok of fields) {
        const [from = '', to = from, extra] = tok.text.split('>');
        if (extra !== undefined) throw configError(tok, `copy_headers: "${tok.text}" has more than one '>' (usage: FROM>TO)`);
        copies.set(headerNameArg(tok, from), headerNameArg(tok, to));
      }
    } else {
      passed.push(sub);
    }
  }
  if (uri === undefined) throw configError(node.name, "forward_auth: the 'uri' subdirective is required (usage: forward_auth UPSTREAM { uri PATH })");
  if (!uri.text.startsWith('/') && !uri.text.startsWith('{')) throw configError(uri, `forward_auth: uri "${uri.text}" must start with /`);

  // Caddy sets these before the block's own header_up lines, which may still change them.
  const forwarded = [
    synthetic(node.name, 'header_up', ['X-Forwarded-Method', '{http.request.method}']),
    synthetic(node.name, 'header_up', ['X-Forwarded-Uri', '{http.request.uri}']),
  ];
  const proxy = parseReverseProxy({ ...node, name: { ...node.name, text: 'reverse_proxy' }, block: [...forwarded, ...passed] }, ctx);
  const good: ResponseHandler<RouteDraft> = { matcher: { status: ['2xx'] }, routes: [copyRoutes(copies, posOf(node.name))] };
  return {
    ...proxy,
    directive: 'forward_auth',
    rewrite: { ...proxy.rewrite, method: 'GET', uri: uri.text },
    handleResponse: [good, ...(proxy.handleResponse ?? [])],
  };
}

/**
 * The 2xx block's routes, in Caddy's order (FROM sorted): delete TO, then set TO from the auth
 * response unless its FROM is empty. A `route` block, so the sorter keeps that order.
 */
function copyRoutes(copies: ReadonlyMap<string, string>, pos: Pos): RouteDraft {
  const routes: RouteDraft[] = [];
  for (const from of [...copies.keys()].sort()) {
    const to = canonicalHeaderName(copies.get(from) as string);
    const placeholder = `{http.reverse_proxy.header.${canonicalHeaderName(from)}}`;
    const del: HeaderOp = { op: 'delete', name: to };
    const set: HeaderOp = { op: 'set', name: to, value: placeholder };
    const notEmpty: MatcherSet = {
      pos,
      matchers: [{ type: 'not', sets: [{ pos, matchers: [{ type: 'vars', vars: [{ key: placeholder, values: [''] }] }] }] }],
    };
    routes.push({ kind: 'request_header', pos, ops: [del] }, { kind: 'request_header', pos, matcher: notEmpty, ops: [set] });
  }
  return { kind: 'route', pos, routes };
}

function synthetic(at: Token, name: string, args: readonly string[]): Node {
  return { name: { ...at, text: name, quote: '' }, args: args.map((text) => ({ ...at, text, quote: '"' as const, newline: false })) };
}
