/**
 * Directory listings for `file_server browse`: plain HTML with every name escaped, or JSON in
 * Caddy's shape when the client asks for application/json. Folders first, then files, by name.
 */
export interface ListingEntry {
  readonly name: string;
  readonly isDir: boolean;
  readonly size: number;
  readonly mtime: Date;
  readonly mode: number;
}

export function renderListing(entries: readonly ListingEntry[], publicPath: string, json: boolean): { type: string; body: string } {
  const sorted = [...entries].sort((a, b) => (a.isDir === b.isDir ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.isDir ? -1 : 1));
  if (json) {
    const items = sorted.map((e) => ({
      name: e.isDir ? `${e.name}/` : e.name,
      size: e.size,
      url: `./${encodeURIComponent(e.name)}${e.isDir ? '/' : ''}`,
      mod_time: e.mtime.toISOString(),
      mode: e.mode,
      is_dir: e.isDir,
      is_symlink: false,
    }));
    return { type: 'application/json', body: JSON.stringify(items) };
  }
  const rows = sorted
    .map((e) => {
      const href = `./${encodeURIComponent(e.name)}${e.isDir ? '/' : ''}`;
      const label = escapeHtml(e.isDir ? `${e.name}/` : e.name);
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
