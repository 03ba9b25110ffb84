/**
 * Directory listings for `file_server browse`: plain HTML with every name escaped, or JSON in
 * Caddy's shape when the client asks for application/json. Sorted as Caddy's browse does it
 * (default namedirfirst: folders first, then names compared in lower case).
 */
import type { BrowseOptions } from '../config/types.ts';

export interface ListingEntry {
  readonly name: string;
  readonly isDir: boolean;
  readonly size: number;
  readonly mtime: Date;
  /** The modification time in nanoseconds, for Caddy's RFC 3339 `mod_time` (Go prints them all). */
  readonly mtimeNs?: bigint;
  readonly mode: number;
  readonly isSymlink?: boolean;
  /** The link's resolved target, with reveal_symlinks only. */
  readonly symlinkPath?: string;
}

type Compare = (a: ListingEntry, b: ListingEntry) => number;

const byName: Compare = (a, b) => {
  const x = a.name.toLowerCase();
  const y = b.name.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Caddy's byName, byNameDirFirst, bySize (folders up front, among themselves by name) and byTime. */
const COMPARE: Readonly<Record<BrowseOptions['sort'], Compare>> = {
  name: byName,
  namedirfirst: (a, b) => (a.isDir === b.isDir ? byName(a, b) : a.isDir ? -1 : 1),
  size: (a, b) => (a.isDir && b.isDir ? byName(a, b) : a.isDir ? -1 : b.isDir ? 1 : a.size - b.size),
  time: (a, b) => a.mtime.getTime() - b.mtime.getTime(),
};

export function renderListing(entries: readonly ListingEntry[], publicPath: string, json: boolean, opts: BrowseOptions): { type: string; body: string } {
  const compare = COMPARE[opts.sort];
  const sorted = [...entries].sort(opts.order === 'desc' ? (a, b) => compare(b, a) : compare);
  if (json) {
    const items = sorted.map((e) => ({
      name: e.isDir ? `${e.name}/` : e.name,
      size: e.size,
      url: `./${goPathEscape(e.name)}${e.isDir ? '/' : ''}`,
      mod_time: e.mtimeNs !== undefined ? goTime(e.mtimeNs) : e.mtime.toISOString(),
      mode: goFileMode(e.mode),
      is_dir: e.isDir,
      is_symlink: e.isSymlink === true,
      ...(e.symlinkPath !== undefined ? { symlink_path: e.symlinkPath } : {}),
    }));
    // Go's json.Encoder: HTML-safe escapes and a final newline; Caddy's Content-Type names UTF-8.
    const body = `${JSON.stringify(items).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
    return { type: 'application/json; charset=utf-8', body };
  }
  const rows = sorted
    .map((e) => {
      const href = `./${goPathEscape(e.name)}${e.isDir ? '/' : ''}`;
      const label = escapeHtml(e.isDir ? `${e.name}/` : e.name) + (e.symlinkPath !== undefined ? ` &rarr; ${escapeHtml(e.symlinkPath)}` : '');
      return `<tr><td><a href="${escapeHtml(href)}">${label}</a></td><td>${e.isDir ? '' : e.size}</td><td>${e.mtime.toISOString()}</td></tr>`;
    })
    .join('\n');
  const title = escapeHtml(publicPath);
  const up = publicPath === '/' ? '' : '<tr><td><a href="../">../</a></td><td></td><td></td></tr>\n';
  const body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>
<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead>
<tbody>
${up}${rows}
</tbody></table></body></html>
`;
  return { type: 'text/html; charset=utf-8', body };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/**
 * Go's os.FileMode for a POSIX st_mode, the number Caddy's JSON listing carries: permission bits
 * plus Go's own type bits (ModeDir is 2^31, so plain arithmetic, not 32-bit bitwise operators).
 */
export function goFileMode(st: number): number {
  const type = st & 0o170000;
  let mode = st & 0o777;
  if (type === 0o040000) mode += 2 ** 31;
  else if (type === 0o120000) mode += 2 ** 27;
  else if (type === 0o060000) mode += 2 ** 26;
  else if (type === 0o020000) mode += 2 ** 26 + 2 ** 21;
  else if (type === 0o010000) mode += 2 ** 25;
  else if (type === 0o140000) mode += 2 ** 24;
  if (st & 0o4000) mode += 2 ** 23;
  if (st & 0o2000) mode += 2 ** 22;
  if (st & 0o1000) mode += 2 ** 20;
  return mode;
}

/** Go's time.Time in JSON (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC. */
export function goTime(ns: bigint): string {
  const secs = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${new Date(Number(secs) * 1000).toISOString().slice(0, 19)}${frac === '' ? '' : `.${frac}`}Z`;
}

/**
 * Go's url.PathEscape as url.URL.String() applies it to a path (Caddy's listing `url`): letters,
 * digits, `-_.~` and `$&+,/:;=@` stay; every other byte of the UTF-8 form is %XX.
 */
export function goPathEscape(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~$&+,/:;=@]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
