/**
 * From a request path to a file under a root, as Caddy's file_server finds it
 * (caddyhttp.SanitizedPathJoin, fileHidden): the path is the router's cleaned path (decoded, `.`
 * and `..` resolved, never above `/`), joined under the root, then checked again to be inside it.
 * Symlinks inside the root are followed, as in Caddy, and may point outside it: that is the
 * operator's choice, made when the link was created.
 */
import { stat, type Stats } from 'node:fs';
import path from 'node:path';

export interface Located {
  readonly file: string;
  readonly stats: Stats;
}

/**
 * The absolute file a request path names under `root`, or undefined when the path cannot name
 * one (NUL bytes; anything resolving outside the root, which a cleaned path never does — checked
 * anyway, since the root's own safety is the one rule file serving cannot get wrong).
 */
export function joinUnderRoot(root: string, requestPath: string): string | undefined {
  if (requestPath.includes('\0')) return undefined;
  const base = path.resolve(root);
  const joined = path.resolve(base, `.${path.posix.normalize(`/${requestPath}`)}`);
  if (joined !== base && !joined.startsWith(base.endsWith(path.sep) ? base : base + path.sep)) return undefined;
  // A trailing slash means "a directory": keep it, so that `a.txt/` is not `a.txt` (Caddy: 404).
  return requestPath.endsWith('/') && joined !== base ? `${joined}/` : joined;
}

export function statFile(file: string): Promise<Stats | undefined> {
  return new Promise((resolve) => {
    stat(file, (err, s) => resolve(err ? undefined : s));
  });
}

type StatWaiter = (s: Stats | undefined) => void;

/**
 * Stats coalesced per turn of the event loop: every request that asks for a path during one I/O
 * phase (all the requests parsed from the sockets that one poll found readable) shares one
 * `stat`, issued when that phase is over (setImmediate runs right after it). Each thread-pool
 * round trip costs a worker wake-up and its completion on the loop (~20 µs of CPU per request on
 * one core, the largest item of a small file's cost); under load many requests for one hot path
 * arrive in the same phase. Freshness is kept: the shared stat is issued after every request it
 * answers had arrived, so no answer is older than its request, unlike a stat cache with a TTL.
 * One per StaticFiles (per route), so nothing is shared across servers in a process.
 */
export class StatBatch {
  #pending = new Map<string, StatWaiter | StatWaiter[]>();
  #scheduled = false;

  stat(file: string): Promise<Stats | undefined> {
    return new Promise((resolve) => {
      const waiting = this.#pending.get(file);
      if (waiting === undefined) this.#pending.set(file, resolve);
      else if (Array.isArray(waiting)) waiting.push(resolve);
      else this.#pending.set(file, [waiting, resolve]);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const batch = this.#pending;
    this.#pending = new Map();
    for (const [file, waiting] of batch) {
      stat(file, (err, s) => {
        const result = err ? undefined : s;
        if (Array.isArray(waiting)) for (const w of waiting) w(result);
        else waiting(result);
      });
    }
  };
}

/**
 * Caddy's hide list: a pattern without a path separator is matched (Go filepath.Match) against
 * each path component, so `.git` or `*.bak` hide such names anywhere; one with a separator is
 * matched against the whole absolute path, or hides everything under it when it names a folder.
 */
export function compileHide(patterns: readonly string[]): (file: string) => boolean {
  if (patterns.length === 0) return () => false;
  const tests = patterns.map((p): ((file: string, parts: readonly string[]) => boolean) => {
    const re = globToRegExp(p);
    if (!p.includes('/')) return (_file, parts) => parts.some((part) => re.test(part));
    const abs = path.resolve(p);
    const absRe = globToRegExp(abs);
    return (file) => absRe.test(file) || file.startsWith(`${abs.replace(/\/$/, '')}/`);
  });
  return (file) => {
    const clean = file.replace(/\/$/, '');
    const parts = clean.split('/').filter((s) => s !== '');
    return tests.some((t) => t(clean, parts));
  };
}

/** Go's filepath.Match syntax: `*` (no `/`), `?`, `[…]` classes with `^`/`!` negation, `\` escapes. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < glob.length) re += escapeRe(glob[++i] as string);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, 's');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
