/**
 * Caddy's regular expressions are Go's RE2; ours run as JavaScript RegExps. The forms Caddyfiles
 * use that JavaScript spells differently are translated: a leading `(?i)`/`(?s)`/`(?m)` (flags),
 * `(?P<name>…)` (named group), `\A` and `\z`. What is left must compile as a JavaScript RegExp,
 * or the config is refused with the reason.
 */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import { GoRegexpError, translateGoRegexp } from '../../util/go-regexp.ts';

/**
 * A Go RE2 pattern from the Caddyfile as a JS RegExp source and flags (util/go-regexp.ts), or a
 * config error at the token, prefixed with `what` (the matcher or directive) when given. The one
 * wrapper: matchers, header replace ops, health_body and log filters all take their regexps here.
 */
export function goRegexp(tok: Token, what?: string): { source: string; flags: string } {
  try {
    return translateGoRegexp(tok.text);
  } catch (err) {
    if (!(err instanceof GoRegexpError)) throw err;
    throw configError(tok, `${what === undefined ? '' : `${what}: `}invalid regexp "${tok.text}": ${err.message}`, { cause: err });
  }
}

/** goRegexp in the shape matcher configs keep (`pattern`, `flags`). */
export function goRegexpPattern(tok: Token, what: string): { pattern: string; flags: string } {
  const { source, flags } = goRegexp(tok, what);
  return { pattern: source, flags };
}

/** Caddy's check of regexp names (MatchRegexp.Validate): at least one word character. */
export function regexpName(tok: Token, what: string): string {
  if (!/\w/.test(tok.text)) throw configError(tok, `${what}: invalid regexp name "${tok.text}" (it must contain word characters)`);
  return tok.text;
}
