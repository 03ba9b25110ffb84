/**
 * Run-time file matcher (Caddy's MatchFile.selectFile). Each candidate is the request path (or a
 * try_files entry, placeholders expanded), cleaned as a rooted path so `..` never leaves the root,
 * split at the first split_path delimiter that ends a path segment, and joined to the root. A
 * name ending in `/` must be a directory, any other must not be one.
 *
 * Globs (`*`, `?`, `[…]`, Go's filepath.Match syntax, as Caddy ≥ 2.5 and the 2.6.2 binary expand
 * them) come from the configuration only: a placeholder's value is escaped first, so a request
 * cannot make the matcher list a folder. Each glob gives its matches in name order.
 *
 * `=CODE` (first_exist and first_exist_fallback): reached before any file matched, it ends the
 * request with that status as an error, which handle_errors answers (Caddy sets the matcher error
 * the route then returns; a HandlerError thrown here travels the same way).
 *
 * The stat calls are synchronous, as a matcher is a synchronous predicate (Caddy's are too):
 * a local stat costs microseconds; a root on a slow network file system would stall the loop.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { FileRequestMatcher } from '../../config/types.ts';
import { globToRegExp } from '../../files/locate.ts';
import { setValue } from '../context.ts';
import { HandlerError } from '../handlers/errors.ts';
import type { Match } from './index.ts';
import { goClean } from './path.ts';
import { compileTemplate, placeholderText, type Template } from '../../util/placeholders.ts';

interface Candidate {
  readonly full: string;
  readonly relative: string;
  readonly remainder: string;
}

export function file(m: FileRequestMatcher): Match {
  const tryFiles = m.tryFiles ?? ['{http.request.uri.path}'];
  // Placeholders expanded with glob characters in their values escaped (Caddy's globSafeRepl), so
  // only the configuration's own `*`, `?` and `[` are globs. Caddy leaves `\\` unescaped, which lets
  // a value's backslash turn a following escape back into a glob; here it is escaped too.
  const entries = tryFiles.map((pattern) => ({ pattern, expand: compileTemplate(pattern, 'empty', escapeGlob), code: errorCode(pattern) }));
  const rootOf = m.root !== undefined ? compileTemplate(m.root, 'empty') : undefined;
  const splits = m.splitPath.map((s) => s.toLowerCase());
  return (req, ctx) => {
    const root = goClean((rootOf !== undefined ? rootOf(req, ctx) : placeholderText(ctx.vars?.get('root'))) || '.');
    const candidates = ({ pattern, expand }: { pattern: string; expand: Template }): Candidate[] => {
      const expanded = expand(req, ctx);
      const [split, remainder] = firstSplit(goClean(expanded), splits);
      const before = pattern.endsWith('/') ? `${split}/` : split;
      return expandGlob(sanitizedJoin(root, before), root).map((full) => ({
        full,
        relative: full.startsWith(root) ? full.slice(root.length) : full,
        remainder,
      }));
    };
    const first = m.tryPolicy === 'first_exist' || m.tryPolicy === 'first_exist_fallback';
    // first_exist_fallback takes the last entry without a stat (Caddy 2.8+: it "assumes the last
    // element always exists"), so a front controller costs one stat fewer per request.
    const last = m.tryPolicy === 'first_exist_fallback' ? tryFiles.length - 1 : -1;
    let chosen: { c: Candidate; isDir: boolean; info?: Stats } | undefined;
    for (const [i, entry] of entries.entries()) {
      if (first && entry.code !== undefined) throw new HandlerError(entry.code, entry.pattern.slice(1));
      for (const c of candidates(entry)) {
        if (i === last) {
          chosen = { c, isDir: false };
          break;
        }
        const info = statOf(c.full);
        if (info === undefined) continue;
        if (first) {
          // Caddy's strictFileExists: a trailing slash asks for a directory, none for a file.
          if (c.full.endsWith('/') !== info.isDirectory()) continue;
          chosen = { c, isDir: info.isDirectory() };
          break;
        }
        if (better(m.tryPolicy, info, chosen?.info)) chosen = { c, isDir: info.isDirectory(), info };
      }
      if (first && chosen !== undefined) break;
    }
    if (chosen === undefined) return false;
    setValue(ctx, 'http.matchers.file.relative', chosen.c.relative);
    setValue(ctx, 'http.matchers.file.absolute', chosen.c.full);
    setValue(ctx, 'http.matchers.file.remainder', chosen.c.remainder);
    setValue(ctx, 'http.matchers.file.type', chosen.isDir ? 'directory' : 'file');
    return true;
  };
}

/** Caddy's parseErrorCode: `=` and a number (Go's Atoi, sign allowed) from 100 to 999. */
function errorCode(entry: string): number | undefined {
  if (!/^=[+-]?\d+$/.test(entry)) return undefined;
  const code = Number(entry.slice(1));
  return code >= 100 && code <= 999 ? code : undefined;
}

function escapeGlob(value: string): string {
  return value.replace(/[*?[\\]/g, '\\$&');
}

const META = /(^|[^\\])(\\\\)*[*?[]/;

function unescapeGlob(s: string): string {
  return s.replace(/\\(.)/gs, '$1');
}

/**
 * The files a joined pattern names (Go's filepath.Glob, over the part below the root only: the
 * root is taken literally). Without a glob, the one path, unescaped and not checked: the caller
 * stats it. Folders that cannot be read give nothing, as in Go.
 */
function expandGlob(full: string, root: string): string[] {
  const under = full.startsWith(root);
  const rel = under ? full.slice(root.length) : full;
  if (!META.test(rel)) return [under ? root + unescapeGlob(rel) : unescapeGlob(full)];
  const slash = rel.endsWith('/') ? '/' : '';
  const join = (d: string, n: string): string => (d === '' ? n : d.endsWith('/') ? d + n : `${d}/${n}`);
  let found = [under ? root : full.startsWith('/') ? '/' : ''];
  for (const seg of rel.split('/')) {
    if (seg === '') continue;
    if (!META.test(seg)) {
      const name = unescapeGlob(seg);
      found = found.map((d) => join(d, name));
      continue;
    }
    const re = globToRegExp(seg);
    const next: string[] = [];
    for (const d of found) {
      let names: string[];
      try {
        names = readdirSync(d === '' ? '.' : d);
      } catch {
        continue;
      }
      for (const n of names.sort()) if (re.test(n)) next.push(join(d, n));
    }
    found = next;
  }
  return found.map((f) => f + slash);
}

/**
 * Caddy's comparisons, quirks kept: largest_size never picks an empty file (it starts from size
 * 0), and smallest_size lets any later file replace an empty one (0 means "none yet" there).
 */
function better(policy: FileRequestMatcher['tryPolicy'], info: Stats, best: Stats | undefined): boolean {
  switch (policy) {
    case 'largest_size':
      return info.size > (best?.size ?? 0);
    case 'smallest_size':
      return best === undefined || best.size === 0 || info.size < best.size;
    case 'most_recently_modified':
      return best === undefined || info.mtimeMs > best.mtimeMs;
    default:
      return false;
  }
}

function statOf(p: string): Stats | undefined {
  try {
    return statSync(p, { throwIfNoEntry: false });
  } catch {
    // ENOTDIR and the like: Caddy treats any stat error as "does not exist".
    return undefined;
  }
}

/** Caddy's firstSplit: the first delimiter (case-insensitive) that ends a path segment. */
function firstSplit(p: string, splits: readonly string[]): [string, string] {
  const lower = p.toLowerCase();
  for (const split of splits) {
    const idx = lower.indexOf(split);
    if (idx < 0) continue;
    const pos = idx + split.length;
    if (pos !== p.length && p[pos] !== '/') continue;
    return [p.slice(0, pos), p.slice(pos)];
  }
  return [p, ''];
}

/** Caddy's SanitizedPathJoin: the request path is cleaned as rooted, so it cannot climb out of root. */
export function sanitizedJoin(root: string, reqPath: string): string {
  const rel = goClean(`/${reqPath}`).slice(1);
  let joined = rel === '' ? root : path.join(root, rel);
  if (reqPath.endsWith('/') && !joined.endsWith('/')) joined += '/';
  return joined;
}
