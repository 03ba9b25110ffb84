/**
 * Path matchers with the Caddyfile's semantics: case-insensitive; exact unless the pattern has a
 * `*`, which matches any run of characters (`/api/*` matches `/api/x` but not `/api`; `/api*`
 * matches both). Compiled once per config.
 */
export function compilePathMatcher(pattern: string): (path: string) => boolean {
  const p = pattern.toLowerCase();
  if (!p.includes('*')) return (path) => path.toLowerCase() === p;
  if (p.endsWith('*') && p.indexOf('*') === p.length - 1) {
    const prefix = p.slice(0, -1);
    return (path) => path.toLowerCase().startsWith(prefix);
  }
  const re = new RegExp('^' + p.split('*').map(escapeRegExp).join('.*') + '$', 's');
  return (path) => re.test(path.toLowerCase());
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
