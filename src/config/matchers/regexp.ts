/**
 * Caddy's regular expressions are Go's RE2; ours run as JavaScript RegExps. The forms Caddyfiles
 * use that JavaScript spells differently are translated: a leading `(?i)`/`(?s)`/`(?m)` (flags),
 * `(?P<name>…)` (named group), `\A` and `\z`. What is left must compile as a JavaScript RegExp,
 * or the config is refused with the reason.
 */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import { GoRegexpError, translateGoRegexp } from '../../util/go-regexp.ts';

export function goRegexp(tok: Token, what: string): { pattern: string; flags: string } {
  try {
    const { source, flags } = translateGoRegexp(tok.text);
    return { pattern: source, flags };
  } catch (err) {
    if (!(err instanceof GoRegexpError)) throw err;
    throw configError(tok, `${what}: invalid regexp "${tok.text}": ${err.message}`);
  }
}

/** Caddy's check of regexp names (MatchRegexp.Validate): at least one word character. */
export function regexpName(tok: Token, what: string): string {
  if (!/\w/.test(tok.text)) throw configError(tok, `${what}: invalid regexp name "${tok.text}" (it must contain word characters)`);
  return tok.text;
}
