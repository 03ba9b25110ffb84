/**
 * Caddy's regular expressions are Go's RE2; ours run as JavaScript RegExps. The one translation
 * every place that takes a regexp from a Caddyfile uses (matchers, header replace ops,
 * health_body, log filters, CEL functions): a leading flag group `(?i)`/`(?s)`/`(?m)` becomes
 * flags, `(?P<name>…)` a named group, `\A` and `\z` anchors. What JavaScript would read
 * differently and cannot be translated (`\Q…\E`, `\C`, POSIX classes, Unicode classes, the U flag)
 * is refused, rather than matching something else at run time.
 */
export class GoRegexpError extends Error {}

export function translateGoRegexp(pattern: string): { source: string; flags: string } {
  let source = pattern;
  let flags = '';
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(source);
  if (lead !== null) {
    for (const f of lead[1] as string) {
      if (f === 'U') throw new GoRegexpError('the U flag has no JavaScript equivalent');
      if (f !== 'i' && f !== 's' && f !== 'm') throw new GoRegexpError(`regexp flag "${f}" is not supported (i, s and m are)`);
      if (!flags.includes(f)) flags += f;
    }
    source = source.slice(lead[0].length);
  }
  const posix = /\[\[:[a-z]+:\]\]/.exec(source);
  if (posix !== null) throw new GoRegexpError(`"${posix[0]}" is Go RE2 syntax JavaScript reads differently`);
  // Escapes are read in pairs, so `\\A` (a backslash, then A) stays what it is.
  source = source.replace(/\\([\s\S])/g, (whole: string, c: string, at: number) => {
    if (c === 'A') return '^';
    if (c === 'z') return '$(?![\\s\\S])';
    const unicodeClass = (c === 'p' || c === 'P') && /^\{?[A-Z]/.test(source.slice(at + 2));
    if (c === 'Q' || c === 'E' || c === 'C' || unicodeClass) throw new GoRegexpError(`"${unicodeClass ? source.slice(at, at + 4) : whole}" is Go RE2 syntax JavaScript reads differently`);
    return whole;
  });
  source = source.replaceAll('(?P<', '(?<');
  try {
    new RegExp(source, flags);
  } catch (err) {
    throw new GoRegexpError((err as Error).message);
  }
  return { source, flags };
}
