/**
 * A site block: addresses, then directives. `tls` and `log` configure the site and may appear once,
 * at its top level; `@name` lines define named matchers (config/matchers); the handler directives
 * (ROUTES) become routes and may also appear inside handle and route blocks:
 *
 *     handle [MATCHER] { DIRECTIVE... }
 *     handle_path PATH { DIRECTIVE... }
 *     route [MATCHER] { DIRECTIVE... }
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
import { argsOf, needBlock, splitMatcher, withArgs } from './helpers.ts';
import { parseBasicAuth } from './basic-auth.ts';
import { parseFileServer } from './file-server.ts';
import { parsePhpFastcgi } from './php-fastcgi.ts';
import { parseAccessLog } from './log.ts';
import { parseReverseProxy } from './reverse-proxy.ts';
import { parseEncode, parseHeader, parseRedir, parseRespond } from './simple.ts';
import { parseTls } from './tls.ts';

/** Parses one handler directive; `routes` parses a nested block of directives (with its own matcher scope). */
export type RouteParser = (node: Node, ctx: RouteParseContext) => RouteDraft;

export interface RouteParseContext {
  readonly issues: IssueCollector;
  /** The directives of a nested block, in the order written (the adapter sorts them where Caddy does). */
  readonly routes: (body: readonly Node[]) => RouteDraft[];
}

/** The handler directives, by name. One entry per directive; the parser may live in its own file. */
const ROUTES: Readonly<Record<string, RouteParser | undefined>> = {
  reverse_proxy: (node) => parseReverseProxy(node),
  redir: (node) => parseRedir(node),
  respond: (node) => parseRespond(node),
  header: (node) => parseHeader(node),
  encode: (node) => parseEncode(node),
  handle: parseHandle,
  handle_path: parseHandlePath,
  route: parseRouteBlock,
  file_server: (node) => parseFileServer(node),
  basic_auth: (node) => parseBasicAuth(node),
  basicauth: (node) => parseBasicAuth(node),
  php_fastcgi: (node) => parsePhpFastcgi(node),
};

const SITE_ONLY = new Set(['tls', 'log']);

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
  const ctx: RouteParseContext = { issues, routes: (body) => parseRoutes(body, ctx) };
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
