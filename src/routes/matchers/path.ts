/**
 * Caddy's MatchPath (modules/caddyhttp/matchers.go), compiled once per pattern:
 *
 * - case-insensitive (pattern and path lower-cased);
 * - `*` alone matches everything; `*x*` (exactly two, at both ends) is a substring match; one `*`
 *   at the start is a suffix match (`*.php`), one at the end a prefix match (`/api/*`, `/api*`);
 * - anything else is Go's path.Match glob on the whole path: `*` is any run of characters other
 *   than `/` (`/a/*\/c` matches `/a/b/c`, not `/a/b/d/c`), `?` one such character, `[…]` a class;
 *   a malformed glob matches nothing;
 * - a `%` in the pattern compares those bytes in the request's escaped form (`/a%2Fb` matches
 *   `/a%2Fb`, not `/a/b`); `%*` is a wildcard span that is not decoded;
 * - a `//` in the pattern keeps empty path segments (otherwise runs of `/` are merged).
 */
import type { Req, RequestContext } from '../context.ts';
import { splitTarget } from '../context.ts';
import { escapePath } from '../../util/rewrite-uri.ts';

/** Tests a path; `escaped` is the request's escaped path, needed only by `%` patterns. */
export type PathTest = (path: string, escaped?: string) => boolean;

/**
 * `cleanInput`: the paths given are already cleaned as CleanPath(merge) cleans them (ctx.path
 * is, see context.ts cleanPath), so only `//` patterns, which get the raw path, clean it here.
 */
export function compilePathMatcher(rawPattern: string, cleanInput = false): PathTest {
  const pattern = rawPattern.toLowerCase();
  if (pattern === '*') return () => true;
  const merge = !pattern.includes('//');
  if (pattern.includes('%')) {
    const glob = compileGlob(pattern.replaceAll('%*', '*'));
    return (path, escaped) => {
      const e = cleanGoPath(escaped ?? escapePath(path), merge);
      const built = withEscapes(e, pattern);
      return built !== undefined && glob !== undefined && glob.test(built);
    };
  }
  // ctx.path is already cleaned the way CleanPath(merge) cleans (context.ts cleanPath); paths
  // that might not be (`//` patterns get the raw decoded path) are cleaned here.
  const norm = (path: string): string => {
    const lower = lowerCase(path);
    return merge && (cleanInput || !mayNeedCleaning(lower)) ? lower : cleanGoPath(lower, merge);
  };
  const stars = pattern.split('*').length - 1;
  if (stars === 2 && pattern.startsWith('*') && pattern.endsWith('*')) {
    const inner = pattern.slice(1, -1);
    return (path) => norm(path).includes(inner);
  }
  if (stars === 1 && pattern.startsWith('*')) {
    const suffix = pattern.slice(1);
    return (path) => norm(path).endsWith(suffix);
  }
  if (stars === 1 && pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (path) => norm(path).startsWith(prefix);
  }
  if (!/[*?[\\]/.test(pattern)) return (path) => norm(path) === pattern;
  const glob = compileGlob(pattern);
  if (glob === undefined) return () => false;
  return (path) => glob.test(norm(path));
}

let lastPath = '';
let lastLower = '';

/**
 * path.toLowerCase(), remembering the last answer: the path patterns of one request (20 of them
 * in a site with many matchers) all lower-case the same ctx.path, once is enough.
 */
function lowerCase(path: string): string {
  if (path !== lastPath) {
    lastPath = path;
    lastLower = path.toLowerCase();
  }
  return lastLower;
}

function mayNeedCleaning(p: string): boolean {
  return p === '' || p.charCodeAt(0) !== 47 || p.includes('//') || p.includes('/.');
}

/** The path a path matcher sees, and the escaped form for `%` patterns (the raw target unless rewritten). */
export function escapedPathOf(req: Req, ctx: RequestContext): string {
  if (ctx.rewritten === true) return escapePath(ctx.path);
  return splitTarget(req.url ?? '/').path;
}

/** The decoded request path before cleaning (ctx.path once rewritten); for `//` patterns. */
export function decodedPathOf(req: Req, ctx: RequestContext): string {
  if (ctx.rewritten === true) return ctx.path;
  try {
    return decodeURIComponent(splitTarget(req.url ?? '/').path);
  } catch {
    return ctx.path;
  }
}

/**
 * Caddy's CleanPath: Go's path.Clean keeping a trailing slash; without `merge`, empty segments
 * (`//`) are kept. The request path is already cleaned and merged (context.ts cleanPath), so for
 * ordinary patterns this is a no-op but for paths handed in from elsewhere (CEL, tests).
 */
export function cleanGoPath(p: string, merge: boolean): string {
  if (merge) return cleanKeepTrailing(p);
  const TMP = '\uffff';
  const expanded = p.replace(/\/(?=\/)/g, `/${TMP}`);
  return cleanKeepTrailing(expanded).replaceAll(TMP, '');
}

function cleanKeepTrailing(p: string): string {
  if (p === '') return '/';
  const cleaned = goClean(p);
  return cleaned !== '/' && p.endsWith('/') ? `${cleaned}/` : cleaned;
}

/** Go's path.Clean. */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(seg);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}


function unescape(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * Caddy's matchPatternWithEscapeSequence: walks the escaped path and the pattern together and
 * builds the string to glob against, decoded except where the pattern has `%XX` or `%*`.
 * Undefined: certainly no match.
 */
function withEscapes(escapedPath: string, pattern: string): string | undefined {
  let sb = '';
  let iPattern = 0;
  let iPath = 0;
  while (iPattern < pattern.length && iPath < escapedPath.length) {
    let pathCh = escapedPath[iPath] as string;
    let escapedPathCh = '';
    if (pathCh === '%' && escapedPath.length >= iPath + 3) {
      escapedPathCh = escapedPath.slice(iPath, iPath + 3).toLowerCase();
      const decoded = unescape(escapedPathCh);
      if (decoded === undefined) return undefined;
      pathCh = decoded;
      iPath += 2;
    }
    let normalize = true;
    const pc = pattern[iPattern];
    let wildcard = pc === '*';
    if (pc === '%') {
      if (pattern.length >= iPattern + 3 && pattern[iPattern + 1] !== '*') {
        sb += escapedPathCh;
        iPath++;
        iPattern += 3;
        continue;
      }
      iPattern++;
      normalize = false;
      wildcard = true;
    }
    if (wildcard) {
      // As in Caddy: when the path is at an escape here, the span starts after its `%X` (Go's
      // loop has already stepped over them), so `*` right after `%2F` sees `F…`, not `/…`.
      const remaining = escapedPath.slice(iPath);
      let until = escapedPath.length - iPath;
      if (iPattern < pattern.length - 1) {
        until = remaining.indexOf(pattern[iPattern + 1] as string);
        if (until === -1) return undefined;
      }
      if (until > 0) {
        let next = remaining.slice(0, until);
        if (normalize) {
          const d = unescape(next);
          if (d === undefined) return undefined;
          next = d;
        }
        sb += next;
        iPath += until;
      }
    } else {
      sb += pathCh;
      iPath++;
    }
    iPattern++;
  }
  return sb;
}

/** Go's path.Match pattern as an anchored RegExp; undefined for a malformed pattern (ErrBadPattern). */
export function compileGlob(pattern: string): RegExp | undefined {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) return undefined;
      re += escapeChar(next);
      i++;
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (pattern[j] === '^') {
        cls += '^';
        j++;
      }
      let count = 0;
      for (;;) {
        const ch = pattern[j];
        if (ch === undefined) return undefined;
        if (ch === ']' && count > 0) break;
        let lo = ch;
        if (ch === '\\') {
          j++;
          lo = pattern[j] as string;
          if (lo === undefined) return undefined;
        } else if (ch === '-' || ch === ']') return undefined;
        cls += escapeClassChar(lo);
        j++;
        if (pattern[j] === '-') {
          j++;
          let hi = pattern[j];
          if (hi === undefined || hi === ']') return undefined;
          if (hi === '\\') {
            j++;
            hi = pattern[j];
            if (hi === undefined) return undefined;
          }
          if (hi < lo) return undefined;
          cls += `-${escapeClassChar(hi)}`;
          j++;
        }
        count++;
      }
      re += `[${cls}]`;
      i = j;
    } else re += escapeChar(c);
  }
  return new RegExp(`^${re}$`, 'su');
}

function escapeChar(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function escapeClassChar(c: string): string {
  return /[\\\]\[^-]/.test(c) ? `\\${c}` : c;
}
