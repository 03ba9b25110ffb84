/**
 * Caddy's matchHeaders rule for one allowed value (caddyhttp.matchHeaders): `*` alone matches any
 * value, `*x*` a substring, `*x` a suffix, `x*` a prefix, anything else the exact value. The one
 * copy of it: the request `header` matcher and reverse_proxy's `@name { header … }` response
 * matchers (handle_response) both use it.
 */
export function headerValueTest(allowed: string): (actual: string) => boolean {
  if (allowed === '*') return () => true;
  const starts = allowed.startsWith('*');
  const ends = allowed.endsWith('*');
  if (starts && ends) {
    const inner = allowed.slice(1, -1);
    return (a) => a.includes(inner);
  }
  if (starts) {
    const suffix = allowed.slice(1);
    return (a) => a.endsWith(suffix);
  }
  if (ends) {
    const prefix = allowed.slice(0, -1);
    return (a) => a.startsWith(prefix);
  }
  return (a) => a === allowed;
}

/** headerValueTest for a pattern known only now (expanded from placeholders for this request). */
export function headerValueMatches(actual: string, allowed: string): boolean {
  return headerValueTest(allowed)(actual);
}
