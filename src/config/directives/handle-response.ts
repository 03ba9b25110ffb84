/**
 * Response handling inside reverse_proxy (Caddy's reverseproxy/caddyfile.go, Intercept and
 * FinalizeUnmarshalCaddyfile; caddyhttp ParseNamedResponseMatcher). The reverse_proxy parser hands
 * its block to parseResponseHandling, which takes these subdirectives and leaves the others to it;
 * the proxy runs them (proxy/reverse-proxy.ts #intercept, routes/handlers/handle-response.ts):
 *
 *     reverse_proxy … {
 *         @NAME status CODE|Nxx…              (response matchers; one-line or block form)
 *         @NAME {
 *             status CODE|Nxx…
 *             header FIELD [VALUE]
 *         }
 *         replace_status [@NAME] STATUS
 *         handle_response [@NAME] {
 *             DIRECTIVES…                     (any handler directive, and these two:)
 *             copy_response [MATCHER] [STATUS] { status STATUS }
 *             copy_response_headers [MATCHER] { include FIELD… | exclude FIELD… }
 *         }
 *     }
 *
 * The routes of a handle_response block are drafts in the order written; the adapter sorts them
 * like a handle block's (config/adapt.ts routeSorter).
 */
import { configError, posOf } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { CopyResponseHeadersRoute, CopyResponseRoute, Pos, ResponseHandler, ResponseMatcher, StatusMatch } from '../types.ts';
import type { RouteDraft } from '../draft.ts';
import { headerNameArg, intArg, statusMatchArg } from '../values.ts';
import { argsOf, noBlock, Once, splitMatcher, withArgs } from './helpers.ts';
import type { RouteParseContext } from './site.ts';

export type { ResponseMatcher } from '../types.ts';

export type ResponseHandlerDraft =
  | { readonly kind: 'handle_response'; readonly pos: Pos; readonly matcher?: ResponseMatcher; readonly routes: RouteDraft[] }
  | { readonly kind: 'replace_status'; readonly pos: Pos; readonly matcher?: ResponseMatcher; readonly status: number | string };

/** The names this module takes from a reverse_proxy block (besides `@NAME` lines). */
export const RESPONSE_SUBDIRECTIVES: ReadonlySet<string> = new Set(['handle_response', 'replace_status']);

/**
 * The response handlers of one reverse_proxy block, in the order written. Matchers are defined
 * anywhere in the block (Caddy collects them first).
 */
export function parseResponseHandling(block: readonly Node[], ctx: RouteParseContext): ResponseHandlerDraft[] {
  const matchers = new Map<string, ResponseMatcher>();
  for (const node of block) {
    if (!node.name.text.startsWith('@')) continue;
    if (matchers.has(node.name.text)) throw configError(node.name, `response matcher ${node.name.text} is defined more than once`);
    matchers.set(node.name.text, parseResponseMatcher(node));
  }
  const out: ResponseHandlerDraft[] = [];
  for (const node of block) {
    if (node.name.text === 'replace_status') out.push(parseReplaceStatus(node, matchers));
    else if (node.name.text === 'handle_response') out.push(parseHandleResponse(node, matchers, ctx));
  }
  return out;
}

/** The handlers as the reverse_proxy route carries them (ReverseProxyConfig.handleResponse). */
export function responseHandlers(drafts: readonly ResponseHandlerDraft[]): ResponseHandler<RouteDraft>[] {
  return drafts.map((d) => ({
    ...(d.matcher ? { matcher: d.matcher } : {}),
    ...(d.kind === 'replace_status' ? { statusReplace: d.status } : { routes: d.routes }),
  }));
}

function parseResponseMatcher(node: Node): ResponseMatcher {
  const lines: { name: Token; args: readonly Token[] }[] = [];
  const [first, ...rest] = node.args;
  if (first !== undefined) {
    if (node.block !== undefined) throw configError(node.open ?? first, `${node.name.text}: give one matcher on the line or a block of them, not both`);
    lines.push({ name: first, args: rest });
  }
  for (const sub of node.block ?? []) {
    noBlock(sub);
    lines.push(sub);
  }
  if (lines.length === 0) throw configError(node.name, `${node.name.text}: missing response matcher (status or header)`);
  const status: StatusMatch[] = [];
  const headers: { name: string; values: string[] }[] = [];
  for (const line of lines) {
    if (line.name.text === 'status') {
      if (line.args.length === 0) throw configError(line.name, 'status: missing argument (usage: status CODE|Nxx…)');
      status.push(...line.args.map(statusMatchArg));
    } else if (line.name.text === 'header') {
      const [field, ...values] = line.args;
      if (field === undefined) throw configError(line.name, 'header: missing argument (usage: header FIELD [VALUE…])');
      headers.push({ name: headerNameArg(field, field.text), values: values.map((v) => v.text) });
    } else {
      throw configError(line.name, `unknown response matcher "${line.name.text}" (use status or header)`);
    }
  }
  return { ...(status.length > 0 ? { status } : {}), ...(headers.length > 0 ? { headers } : {}) };
}

function lookup(tok: Token, matchers: ReadonlyMap<string, ResponseMatcher>): ResponseMatcher {
  if (!tok.text.startsWith('@')) throw configError(tok, `must use a named response matcher, starting with '@' (got "${tok.text}")`);
  const found = matchers.get(tok.text);
  if (found === undefined) throw configError(tok, `no response matcher named ${tok.text} in this reverse_proxy block`);
  return found;
}

function parseReplaceStatus(node: Node, matchers: ReadonlyMap<string, ResponseMatcher>): ResponseHandlerDraft {
  if (node.block !== undefined) throw configError(node.open ?? node.name, "replace_status takes no block; use handle_response for routes");
  const [a, b] = argsOf(node, 1, 2, 'replace_status [@NAME] STATUS') as [Token, Token | undefined];
  const matcher = b !== undefined ? lookup(a, matchers) : undefined;
  const tok = b ?? a;
  // A placeholder (`replace_status {err.status_code}` in handle_errors, corpus case 30) is read
  // per response, as Caddy's WeakString status is.
  const status = tok.text.includes('{') ? tok.text : intArg(tok, 100, 999, 'status code');
  return { kind: 'replace_status', pos: posOf(node.name), ...(matcher ? { matcher } : {}), status };
}

function parseHandleResponse(node: Node, matchers: ReadonlyMap<string, ResponseMatcher>, ctx: RouteParseContext): ResponseHandlerDraft {
  const usage = 'handle_response [@NAME] { … }';
  const [name, extra] = node.args;
  if (extra !== undefined) {
    throw configError(extra, `handle_response: unexpected argument "${extra.text}" (usage: ${usage}; replace_status changes a status)`);
  }
  const matcher = name !== undefined ? lookup(name, matchers) : undefined;
  if (node.block === undefined) throw configError(node.name, `handle_response needs a block (usage: ${usage})`);
  const routes = ctx.within({ inHandleResponse: true }).routes(node.block);
  return { kind: 'handle_response', pos: posOf(node.name), ...(matcher ? { matcher } : {}), routes };
}

export function parseCopyResponse(node: Node, ctx: RouteParseContext): CopyResponseRoute {
  onlyInHandleResponse(node, ctx);
  const usage = 'copy_response [MATCHER] [STATUS] { status STATUS }';
  const { matcher, args } = splitMatcher(node);
  const [code] = argsOf(withArgs(node, args), 0, 1, usage);
  let status = code === undefined ? undefined : intArg(code, 100, 999, 'status code');
  const once = new Once();
  for (const sub of node.block ?? []) {
    once.check(sub);
    noBlock(sub);
    if (sub.name.text !== 'status') throw configError(sub.name, `copy_response: unknown subdirective "${sub.name.text}" (usage: ${usage})`);
    if (status !== undefined) throw configError(sub.name, 'copy_response: the status is already given on the directive line');
    status = intArg(argsOf(sub, 1, 1, 'status STATUS')[0] as Token, 100, 999, 'status code');
  }
  return { kind: 'copy_response', pos: posOf(node.name), ...(matcher ? { matcher } : {}), ...(status !== undefined ? { status } : {}) };
}

export function parseCopyResponseHeaders(node: Node, ctx: RouteParseContext): CopyResponseHeadersRoute {
  onlyInHandleResponse(node, ctx);
  const usage = 'copy_response_headers [MATCHER] { include FIELD… | exclude FIELD… }';
  const { matcher, args } = splitMatcher(node);
  argsOf(withArgs(node, args), 0, 0, usage);
  const include: string[] = [];
  const exclude: string[] = [];
  for (const sub of node.block ?? []) {
    noBlock(sub);
    const list = sub.name.text === 'include' ? include : sub.name.text === 'exclude' ? exclude : undefined;
    if (list === undefined) throw configError(sub.name, `copy_response_headers: unknown subdirective "${sub.name.text}" (usage: ${usage})`);
    if (sub.args.length === 0) throw configError(sub.name, `${sub.name.text}: missing argument (usage: ${usage})`);
    list.push(...sub.args.map((t) => headerNameArg(t, t.text)));
  }
  if (include.length > 0 && exclude.length > 0) {
    throw configError(node.name, "copy_response_headers: give 'include' or 'exclude', not both");
  }
  return {
    kind: 'copy_response_headers',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    ...(include.length > 0 ? { include } : {}),
    ...(exclude.length > 0 ? { exclude } : {}),
  };
}

function onlyInHandleResponse(node: Node, ctx: RouteParseContext): void {
  if (ctx.inHandleResponse !== true) throw configError(node.name, `${node.name.text} is only allowed inside a reverse_proxy's handle_response block`);
}
