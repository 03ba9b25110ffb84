/**
 * A site block: addresses, then directives. `tls` and `log` configure the site and may appear once,
 * at its top level; the handler directives (reverse_proxy, redir, respond, header, encode, handle,
 * handle_path) become routes and may also appear inside handle blocks:
 *
 *     handle [MATCHER] { DIRECTIVE... }
 *     handle_path PATH { DIRECTIVE... }
 *
 * `handle_path /api/*` matches like `handle /api/*` and strips `/api/` from the path, as the
 * Caddyfile does (the matcher without its trailing `*`).
 */
import { parseSiteAddress } from '../address.ts';
import { configError, posOf, type IssueCollector } from '../errors.ts';
import type { RouteDraft, SiteDraft } from '../draft.ts';
import type { Node, SiteBlock } from '../parser.ts';
import { argsOf, needBlock, splitMatcher, withArgs } from './helpers.ts';
import { parseReverseProxy } from './reverse-proxy.ts';
import { parseAccessLog } from './log.ts';
import { parseEncode, parseHeader, parseRedir, parseRespond } from './simple.ts';
import { parseTls } from './tls.ts';

type RouteParser = (node: Node, issues: IssueCollector) => RouteDraft;

const ROUTES: Readonly<Record<string, RouteParser | undefined>> = {
  reverse_proxy: (node) => parseReverseProxy(node),
  redir: (node) => parseRedir(node),
  respond: (node) => parseRespond(node),
  header: (node) => parseHeader(node),
  encode: (node) => parseEncode(node),
  handle: parseHandle,
  handle_path: parseHandlePath,
};

const SITE_ONLY = new Set(['tls', 'log']);

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
  for (const node of block.body) {
    issues.attempt(() => {
      const name = node.name.text;
      if (name === 'tls') {
        if (site.tls !== undefined) throw duplicate(node, site.tls.pos);
        site.tls = parseTls(node);
      } else if (name === 'log') {
        if (site.log !== undefined) throw duplicate(node, site.log.pos);
        site.log = parseAccessLog(node);
      } else {
        const route = parseRoute(node, issues);
        if (route !== undefined) site.routes.push(route);
      }
    });
  }
  return site;
}

function duplicate(node: Node, prev: { file: string; line: number; col: number }): Error {
  return configError(node.name, `${node.name.text} is already set at ${prev.file}:${prev.line}:${prev.col}`);
}

function parseRoute(node: Node, issues: IssueCollector): RouteDraft {
  const name = node.name.text;
  const parser = ROUTES[name];
  if (parser !== undefined) return parser(node, issues);
  if (name.startsWith('@')) {
    throw configError(node.name, `named matcher definitions such as "${name}" are not supported; use a path matcher such as /api/*`);
  }
  if (SITE_ONLY.has(name)) throw configError(node.name, `${name} is only allowed at the top level of a site block`);
  throw configError(node.name, `unknown directive "${name}"`);
}

function parseRoutes(body: readonly Node[], issues: IssueCollector): RouteDraft[] {
  const routes: RouteDraft[] = [];
  for (const node of body) {
    const route = issues.attempt(() => parseRoute(node, issues));
    if (route !== undefined) routes.push(route);
  }
  return routes;
}

function parseHandle(node: Node, issues: IssueCollector): RouteDraft {
  const usage = 'handle [MATCHER] { … }';
  const { matcher, args } = splitMatcher(node);
  argsOf(withArgs(node, args), 0, 0, usage);
  const body = needBlock(node, usage);
  return { kind: 'handle', pos: posOf(node.name), ...(matcher ? { matcher } : {}), routes: parseRoutes(body, issues) };
}

function parseHandlePath(node: Node, issues: IssueCollector): RouteDraft {
  const usage = 'handle_path PATH { … }';
  const [path] = argsOf(node, 1, 1, usage);
  if (path === undefined || !path.text.startsWith('/')) {
    throw configError(path ?? node.name, `handle_path: the path must start with / (usage: ${usage})`);
  }
  const body = needBlock(node, usage);
  return {
    kind: 'handle',
    pos: posOf(node.name),
    matcher: { path: path.text },
    stripPrefix: path.text.endsWith('*') ? path.text.slice(0, -1) : path.text,
    routes: parseRoutes(body, issues),
  };
}
