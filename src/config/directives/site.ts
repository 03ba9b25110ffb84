/**
 * A site block: addresses, then directives. `tls` and `log` configure the site and may appear once,
 * at its top level; `@name` lines define named matchers (config/matchers); the handler directives
 * (ROUTES) become routes and may also appear inside handle and route blocks:
 *
 *     handle [MATCHER] { DIRECTIVE... }
 *     handle_path PATH { DIRECTIVE... }
 *     route [MATCHER] { DIRECTIVE... }
 *     handle_errors [CODE|Nxx...] { DIRECTIVE... }      (site top level only)
 *
 * `handle_path /api/*` matches like `handle /api/*` and strips `/api/` from the path, as the
 * Caddyfile does (the matcher without its trailing `*`). Named matchers defined in a block are
 * visible in it and in the blocks it holds.
 */
import { parseSiteAddress } from '../address.ts';
import { configError, posOf, type IssueCollector } from '../errors.ts';
import type { RouteDraft, SiteDraft } from '../draft.ts';
import { withMatcherScope } from '../matchers/index.ts';
import type { Node, SiteBlock } from '../parser.ts';
import { parseCopyResponse, parseCopyResponseHeaders } from './handle-response.ts';
import { statusMatchArg } from '../values.ts';
import { argsOf, needBlock, noBlock, splitMatcher, withArgs } from './helpers.ts';
import { parseBasicAuth } from './basic-auth.ts';
import { parseFileServer } from './file-server.ts';
import { parsePhpFastcgi } from './php-fastcgi.ts';
import { parseAccessLog } from './log.ts';
import { parseReverseProxy } from './reverse-proxy.ts';
import { parseForwardAuth } from './forward-auth.ts';
import { parseMetrics, parseRequestBody, parseRequestHeader } from './request.ts';
import { parseAbort, parseError, parseRedirDirective, parseRespondDirective } from './respond.ts';
import { parseMethod, parseRewrite, parseUri } from './rewrite.ts';
import { parseEncode, parseHeader } from './simple.ts';
import { parseTls } from './tls.ts';
import { parseTryFiles } from './try-files.ts';
import { parseLogSkip, parseMap, parseRoot, parseVars } from './vars.ts';

/** Parses one handler directive; `routes` parses a nested block of directives (with its own matcher scope). */
export type RouteParser = (node: Node, ctx: RouteParseContext) => RouteDraft;

export interface RouteParseContext {
  readonly issues: IssueCollector;
  /** The directives of a nested block, in the order written (the adapter sorts them where Caddy does). */
  readonly routes: (body: readonly Node[]) => RouteDraft[];
  /** Inside handle_errors: respond without a status answers the error's. */
  readonly inErrors?: boolean;
  /** Inside a reverse_proxy's handle_response: copy_response and copy_response_headers are allowed. */
  readonly inHandleResponse?: boolean;
  /** A context for a nested block with these flags set (and the ones of this context kept). */
  readonly within: (flags: ContextFlags) => RouteParseContext;
}

type ContextFlags = Pick<RouteParseContext, 'inErrors' | 'inHandleResponse'>;

/** The context the site's top level is parsed with; exported for parsers tested on their own. */
export function parseContext(issues: IssueCollector, flags: ContextFlags = {}): RouteParseContext {
  const ctx: RouteParseContext = {
    issues,
    ...flags,
    routes: (body) => parseRoutes(body, ctx),
    within: (more) => parseContext(issues, { ...flags, ...more }),
  };
  return ctx;
}

/** The handler directives, by name. One entry per directive; the parser may live in its own file. */
const ROUTES: Readonly<Record<string, RouteParser | undefined>> = {
  reverse_proxy: parseReverseProxy,
  forward_auth: parseForwardAuth,
  redir: (node) => parseRedirDirective(node),
  respond: (node, ctx) => parseRespondDirective(node, ctx.inErrors === true),
  header: (node) => parseHeader(node),
  encode: (node) => parseEncode(node),
  handle: parseHandle,
  handle_path: parseHandlePath,
  route: parseRouteBlock,
  rewrite: (node) => parseRewrite(node),
  uri: (node) => parseUri(node),
  method: (node) => parseMethod(node),
  error: (node) => parseError(node),
  abort: (node) => parseAbort(node),
  request_header: (node) => parseRequestHeader(node),
  request_body: (node) => parseRequestBody(node),
  vars: (node) => parseVars(node),
  map: (node) => parseMap(node),
  log_skip: (node) => parseLogSkip(node),
  skip_log: (node) => parseLogSkip(node),
  root: (node) => parseRoot(node),
  try_files: (node) => parseTryFiles(node),
  metrics: (node) => parseMetrics(node),
  copy_response: parseCopyResponse,
  copy_response_headers: parseCopyResponseHeaders,
  file_server: (node) => parseFileServer(node),
  basic_auth: (node) => parseBasicAuth(node),
  basicauth: (node) => parseBasicAuth(node),
  php_fastcgi: (node) => parsePhpFastcgi(node),
};

const SITE_ONLY = new Set(['tls', 'log', 'handle_errors', 'bind']);

/**
 * Caddy directives my-server does not have, with why, so that a Caddyfile using one fails with a
 * pointer to docs/caddy-migration.md rather than "unknown directive".
 */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  templates: "it runs Go's text/template language",
  tracing: 'OpenTelemetry tracing is not built in',
  acme_server: 'my-server is not an ACME server',
  fs: 'virtual file systems are Go modules',
  invoke: 'named routes are not supported yet',
  intercept: 'not supported yet',
  push: 'HTTP/2 server push is deprecated and removed from browsers',
  log_append: 'not supported yet',
  log_name: 'not supported yet',
};

export function parseSite(block: SiteBlock, issues: IssueCollector): SiteDraft {
  const first = block.keys[0];
  if (first === undefined) throw new Error('site block without keys');
  const site: SiteDraft = { pos: posOf(first), addresses: [], routes: [] };
  for (const key of block.keys) {
    const text = key.text.endsWith(',') ? key.text.slice(0, -1) : key.text;
    if (text === '') continue;
    const address = issues.attempt(() => parseSiteAddress({ ...key, text }));
    if (address !== undefined) site.addresses.push(address);
  }
  const ctx = parseContext(issues, {});
  withMatcherScope(block.body, issues, () => {
    for (const node of block.body) {
      if (node.name.text.startsWith('@')) continue;
      issues.attempt(() => {
        const name = node.name.text;
        if (name === 'tls') {
          if (site.tls !== undefined) throw duplicate(node, site.tls.pos);
          site.tls = parseTls(node);
        } else if (name === 'log') {
          if (site.log !== undefined) throw duplicate(node, site.log.pos);
          site.log = parseAccessLog(node);
        } else if (name === 'handle_errors') {
          site.routes.push(parseHandleErrors(node, ctx));
        } else if (name === 'bind') {
          checkSiteBind(node);
        } else {
          site.routes.push(parseRoute(node, ctx));
        }
      });
    }
  });
  return site;
}

function duplicate(node: Node, prev: { file: string; line: number; col: number }): Error {
  return configError(node.name, `${node.name.text} is already set at ${prev.file}:${prev.line}:${prev.col}`);
}

function parseRoute(node: Node, ctx: RouteParseContext): RouteDraft {
  const name = node.name.text;
  const parser = ROUTES[name];
  if (parser !== undefined) return parser(node, ctx);
  if (SITE_ONLY.has(name)) throw configError(node.name, `${name} is only allowed at the top level of a site block`);
  const why = UNSUPPORTED[name];
  if (why !== undefined) {
    throw configError(node.name, `"${name}" is a Caddy directive my-server does not support: ${why} (see docs/caddy-migration.md)`);
  }
  throw configError(node.name, `unknown directive "${name}"`);
}

function parseRoutes(body: readonly Node[], ctx: RouteParseContext): RouteDraft[] {
  const routes: RouteDraft[] = [];
  withMatcherScope(body, ctx.issues, () => {
    for (const node of body) {
      if (node.name.text.startsWith('@')) continue;
      const route = ctx.issues.attempt(() => parseRoute(node, ctx));
      if (route !== undefined) routes.push(route);
    }
  });
  return routes;
}

function parseHandle(node: Node, ctx: RouteParseContext): RouteDraft {
  const usage = 'handle [MATCHER] { … }';
  const { matcher, args } = splitMatcher(node);
  argsOf(withArgs(node, args), 0, 0, usage);
  const body = needBlock(node, usage);
  return { kind: 'handle', pos: posOf(node.name), ...(matcher ? { matcher } : {}), routes: ctx.routes(body) };
}

function parseHandlePath(node: Node, ctx: RouteParseContext): RouteDraft {
  const usage = 'handle_path PATH { … }';
  const [path] = argsOf(node, 1, 1, usage);
  if (path === undefined || !path.text.startsWith('/')) {
    throw configError(path ?? node.name, `handle_path: the path must start with / (usage: ${usage})`);
  }
  const body = needBlock(node, usage);
  return {
    kind: 'handle',
    pos: posOf(node.name),
    matcher: { matchers: [{ type: 'path', paths: [path.text] }], pos: posOf(path) },
    stripPrefix: path.text.endsWith('*') ? path.text.slice(0, -1) : path.text,
    routes: ctx.routes(body),
  };
}

function parseRouteBlock(node: Node, ctx: RouteParseContext): RouteDraft {
  const usage = 'route [MATCHER] { … }';
  const { matcher, args } = splitMatcher(node);
  argsOf(withArgs(node, args), 0, 0, usage);
  const body = needBlock(node, usage);
  return { kind: 'route', pos: posOf(node.name), ...(matcher ? { matcher } : {}), routes: ctx.routes(body) };
}

/**
 * `handle_errors [CODES…] { … }`: routes for requests a handler failed with an error (Caddy 2.8+
 * takes status codes and classes such as 5xx; 2.6.2 takes none). The routes sort in directive
 * order like a handle block's; the router keeps them out of the normal chain.
 */
function parseHandleErrors(node: Node, ctx: RouteParseContext): RouteDraft {
  const usage = 'handle_errors [CODE|Nxx…] { … }';
  const body = needBlock(node, usage);
  const codes = node.args.map((tok) => {
    if (!/^(\d{3}|[1-5]xx)$/i.test(tok.text)) throw configError(tok, `handle_errors: bad status value "${tok.text}" (use a code such as 404 or a class such as 5xx)`);
    return statusMatchArg(tok);
  });
  return {
    kind: 'handle',
    directive: 'handle_errors',
    pos: posOf(node.name),
    ...(codes.length > 0 ? { errorCodes: codes } : {}),
    routes: ctx.within({ inErrors: true }).routes(body),
  };
}

/**
 * `bind ADDRESS…` in a site. Listeners are opened per protocol and port on the default_bind
 * addresses for every site (app/generation.ts listenersOf), so a site cannot have addresses of
 * its own yet. A wildcard (`0.0.0.0`, `::`) asks for every interface, which the listener already
 * has (or, under a narrower default_bind, fewer: never more exposed than asked), so it is accepted;
 * a specific address is refused, since serving the site on every interface would expose a site
 * meant for one.
 */
function checkSiteBind(node: Node): void {
  noBlock(node);
  argsOf(node, 1, Infinity, 'bind ADDRESS…');
  for (const tok of node.args) {
    const address = tok.text.replace(/^tcp[46]?\//, '').replace(/^\[(.*)\]$/, '$1');
    if (address !== '0.0.0.0' && address !== '::') {
      throw configError(tok, `bind: a site cannot listen on its own addresses yet ("${tok.text}"); use the default_bind global option (a wildcard such as 0.0.0.0 is accepted)`);
    }
  }
}
