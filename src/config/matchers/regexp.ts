/**
 * Caddy's regular expressions are Go's RE2; ours run as JavaScript RegExps. The forms Caddyfiles
 * use that JavaScript spells differently are translated: a leading `(?i)`/`(?s)`/`(?m)` (flags),
 * `(?P<name>…)` (named group), `\A` and `\z`. What is left must compile as a JavaScript RegExp,
 * or the config is refused with the reason.
 */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';

export function goRegexp(tok: Token, what: string): { pattern: string; flags: string } {
  let pattern = tok.text;
  let flags = '';
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(pattern);
  if (lead) {
    for (const f of lead[1] as string) {
      if (f !== 'i' && f !== 's' && f !== 'm') throw configError(tok, `${what}: regexp flag "${f}" is not supported (i, s and m are)`);
      if (!flags.includes(f)) flags += f;
    }
    pattern = pattern.slice(lead[0].length);
  }
  pattern = pattern.replaceAll('(?P<', '(?<').replace(/\\A/g, '^').replace(/\\z/g, '$(?![\\s\\S])');
  try {
    new RegExp(pattern, flags);
  } catch (err) {
    throw configError(tok, `${what}: invalid regexp "${tok.text}": ${(err as Error).message}`);
  }
  return { pattern, flags };
}

/** Caddy's check of regexp names (MatchRegexp.Validate): at least one word character. */
export function regexpName(tok: Token, what: string): string {
  if (!/\w/.test(tok.text)) throw configError(tok, `${what}: invalid regexp name "${tok.text}" (it must contain word characters)`);
  return tok.text;
}
