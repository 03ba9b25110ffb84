/**
 * The CGI/1.1 environment (RFC 3875 section 4.1) a PHP script gets, as Caddy's fastcgi transport
 * builds it (buildEnv in reverseproxy/fastcgi/fastcgi.go): the script and PATH_INFO from the path
 * split at the first `.php`, REQUEST_URI as the client sent it (before any rewrite), and every
 * request header as HTTP_NAME.
 */
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { requestHost, splitTarget, type Req, type RequestContext } from '../routes/context.ts';
import { hostWithoutPort } from '../util/host.ts';

/**
 * Caddy's firstSplit: the path up to and including the first split substring (matched without
 * regard to case) that ends a path segment, and the rest; no split: the path and "".
 */
export function firstSplit(p: string, split: readonly string[]): [string, string] {
  const lower = p.toLowerCase();
  for (const s of split) {
    const needle = s.toLowerCase();
    let from = 0;
    for (;;) {
      const idx = lower.indexOf(needle, from);
      if (idx < 0) break;
      const end = idx + needle.length;
      if (end === p.length || p[end] === '/') return [p.slice(0, end), p.slice(end)];
      from = idx + 1;
    }
  }
  return [p, ''];
}

/** Caddy's SanitizedPathJoin: `p` under `root`, `..` never leaving it, a trailing `/` kept. */
export function sanitizedJoin(root: string, p: string): string {
  let joined = path.posix.join(root === '' ? '.' : root, path.posix.normalize(`/${p}`));
  // path.posix.join keeps a trailing slash that Go's filepath.Join drops.
  if (joined.length > 1 && joined.endsWith('/')) joined = joined.slice(0, -1);
  // Caddy 2.6's SanitizedPathJoin keeps a trailing slash only for a path longer than `/`: the root
  // itself comes back without one, so try_files' `{path}` for `/` is not taken as an existing
  // directory and `{path}/index.php` gets its turn (WordPress's home page; checked with Caddy 2.6.2).
  return p.length > 1 && p.endsWith('/') && !joined.endsWith('/') ? `${joined}/` : joined;
}

export interface EnvOptions {
  readonly root: string;
  readonly split: readonly string[];
}

/** Headers a script must not see as HTTP_*: `Proxy` would become HTTP_PROXY (httpoxy, CVE-2016-5385). */
const SKIP_HEADERS = new Set(['proxy']);

export function cgiEnv(req: Req, ctx: RequestContext, opts: EnvOptions): Map<string, string> {
  const fpath = ctx.path;
  const [docUri, pathInfo] = firstSplit(fpath, opts.split);
  let scriptName = pathInfo === '' ? fpath : fpath.slice(0, fpath.length - pathInfo.length);
  const scriptFilename = sanitizedJoin(opts.root, scriptName);
  if (!scriptName.startsWith('/')) scriptName = `/${scriptName}`;

  const hostHeader = requestHost(req);
  const serverName = hostWithoutPort(hostHeader);
  const portMatch = /:(\d+)$/.exec(hostHeader.startsWith('[') ? hostHeader.slice(hostHeader.indexOf(']')) : hostHeader);
  const serverPort = portMatch?.[1] ?? (ctx.scheme === 'https' ? '443' : '80');
  const url = req.url ?? '/';
  const orig = splitTarget(url);
  const requestUri = url.startsWith('/') ? url : `${orig.path}${orig.query !== '' ? `?${orig.query}` : ''}`;

  const env = new Map<string, string>([
    ['AUTH_TYPE', ''],
    ['CONTENT_LENGTH', String(req.headers['content-length'] ?? '')],
    ['CONTENT_TYPE', String(req.headers['content-type'] ?? '')],
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['PATH_INFO', pathInfo],
    ['QUERY_STRING', ctx.query],
    ['REMOTE_ADDR', ctx.remoteAddress],
    ['REMOTE_HOST', ctx.remoteAddress],
    ['REMOTE_PORT', String(req.socket?.remotePort ?? '')],
    ['REMOTE_IDENT', ''],
    ['REMOTE_USER', ctx.values?.get('http.auth.user.id') ?? ''],
    ['REQUEST_METHOD', req.method ?? 'GET'],
    ['REQUEST_SCHEME', ctx.scheme],
    ['SERVER_NAME', serverName],
    ['SERVER_PORT', serverPort],
    ['SERVER_PROTOCOL', `HTTP/${req.httpVersion}`],
    ['SERVER_SOFTWARE', 'my-server'],
    ['DOCUMENT_ROOT', opts.root],
    ['DOCUMENT_URI', docUri],
    ['HTTP_HOST', hostHeader],
    ['REQUEST_URI', requestUri],
    ['SCRIPT_FILENAME', scriptFilename],
    ['SCRIPT_NAME', scriptName],
  ]);
  // php-fpm's cgi.fix_pathinfo reads PATH_TRANSLATED only when PATH_INFO is set (RFC 3875 4.1.6).
  if (pathInfo !== '') env.set('PATH_TRANSLATED', sanitizedJoin(opts.root, pathInfo));
  if (ctx.scheme === 'https') {
    env.set('HTTPS', 'on');
    const tls = req.socket as TLSSocket | undefined;
    try {
      const protocol = tls?.getProtocol?.();
      if (protocol) env.set('SSL_PROTOCOL', protocol);
      const cipher = tls?.getCipher?.();
      if (cipher) env.set('SSL_CIPHER', cipher.standardName ?? cipher.name);
    } catch {
      // An HTTP/2 stream's socket proxy may not forward these; the variables are optional.
    }
  }
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(':') || value === undefined || SKIP_HEADERS.has(name)) continue;
    const key = `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
    if (key === 'HTTP_HOST') continue;
    env.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return env;
}
