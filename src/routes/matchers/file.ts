/**
 * Run-time file matcher (Caddy's MatchFile.selectFile). Each candidate is the request path (or a
 * try_files entry, placeholders expanded), cleaned as a rooted path so `..` never leaves the root,
 * split at the first split_path delimiter that ends a path segment, and joined to the root. A
 * name ending in `/` must be a directory, any other must not be one.
 *
 * The stat calls are synchronous, as a matcher is a synchronous predicate (Caddy's are too):
 * a local stat costs microseconds; a root on a slow network file system would stall the loop.
 */
import { statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { FileRequestMatcher } from '../../config/types.ts';
import { setValue, type Req, type RequestContext } from '../context.ts';
import type { Match } from './index.ts';
import { goClean } from './path.ts';
import { expandAll, placeholderText } from './placeholders.ts';

interface Candidate {
  readonly full: string;
  readonly relative: string;
  readonly remainder: string;
}

export function file(m: FileRequestMatcher): Match {
  const tryFiles = m.tryFiles ?? ['{http.request.uri.path}'];
  const splits = m.splitPath.map((s) => s.toLowerCase());
  return (req, ctx) => {
    const root = goClean(m.root !== undefined ? expandOr(m.root, req, ctx, '.') : placeholderText(ctx.vars?.get('root')) || '.');
    const candidate = (pattern: string): Candidate => {
      const expanded = expandAll(pattern, req, ctx);
      const [split, remainder] = firstSplit(goClean(expanded), splits);
      const before = pattern.endsWith('/') ? `${split}/` : split;
      const full = sanitizedJoin(root, before);
      return { full, relative: full.startsWith(root) ? full.slice(root.length) : full, remainder };
    };
    let chosen: { c: Candidate; info: Stats } | undefined;
    for (const pattern of tryFiles) {
      const c = candidate(pattern);
      const info = statOf(c.full);
      if (info === undefined) continue;
      if (m.tryPolicy === 'first_exist') {
        // Caddy's strictFileExists: a trailing slash asks for a directory, none for a file.
        if (c.full.endsWith('/') !== info.isDirectory()) continue;
        chosen = { c, info };
        break;
      }
      if (better(m.tryPolicy, info, chosen?.info)) chosen = { c, info };
    }
    if (chosen === undefined) return false;
    setValue(ctx, 'http.matchers.file.relative', chosen.c.relative);
    setValue(ctx, 'http.matchers.file.absolute', chosen.c.full);
    setValue(ctx, 'http.matchers.file.remainder', chosen.c.remainder);
    setValue(ctx, 'http.matchers.file.type', chosen.info.isDirectory() ? 'directory' : 'file');
    return true;
  };
}

function expandOr(template: string, req: Req, ctx: RequestContext, empty: string): string {
  const v = expandAll(template, req, ctx);
  return v === '' ? empty : v;
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
