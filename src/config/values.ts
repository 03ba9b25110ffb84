/** Parsers for single argument values. Each throws a ConfigError at the offending token. */
import { configError } from './errors.ts';
import type { Token } from './lexer.ts';
import type { StatusMatch } from './types.ts';

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A Caddy duration (Go's time.ParseDuration plus `d` for days): `30s`, `1m30s`, `500ms`, `1.5h`,
 * `2d`, or `0`. Returns milliseconds, or undefined when `text` is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s.startsWith('-')) sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  // Sticky, so each part must follow the previous one; a fresh regex per call keeps no shared state.
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;
  while (part.lastIndex < s.length) {
    const m = part.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return sign * total;
}

export function durationArg(tok: Token, options: { allowZero?: boolean } = {}): number {
  const ms = parseDuration(tok.text);
  if (ms === undefined) throw configError(tok, `invalid duration "${tok.text}": use a number with a unit, as in 30s, 1m30s, 500ms, 2h or 1d`);
  if (ms < 0) throw configError(tok, `invalid duration "${tok.text}": must not be negative`);
  if (ms === 0 && options.allowZero !== true) throw configError(tok, `invalid duration "${tok.text}": must be greater than zero`);
  return ms;
}

export function intArg(tok: Token, min: number, max: number, what: string): number {
  if (!/^-?\d+$/.test(tok.text)) throw configError(tok, `invalid ${what} "${tok.text}": not an integer`);
  const n = Number(tok.text);
  if (n < min || n > max) throw configError(tok, `invalid ${what} "${tok.text}": must be ${min}-${max}`);
  return n;
}

export function portArg(tok: Token): number {
  return intArg(tok, 1, 65535, 'port');
}

/** `200`, or a class such as `2xx`. */
export function statusMatchArg(tok: Token): StatusMatch {
  const cls = /^([1-5])xx$/i.exec(tok.text);
  if (cls !== null) return `${cls[1] as '1' | '2' | '3' | '4' | '5'}xx`;
  return intArg(tok, 100, 599, 'status code');
}

/** An absolute http(s) URL. */
export function urlArg(tok: Token, what: string): string {
  let url: URL;
  try {
    url = new URL(tok.text);
  } catch {
    throw configError(tok, `invalid ${what} "${tok.text}": not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw configError(tok, `invalid ${what} "${tok.text}": must be an http:// or https:// URL`);
  }
  return tok.text;
}

export function emailArg(tok: Token): string {
  if (!/^[^@\s]+@[^@\s]+$/.test(tok.text)) throw configError(tok, `invalid email address "${tok.text}"`);
  return tok.text;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function headerNameArg(tok: Token, name: string): string {
  if (!HEADER_NAME.test(name)) throw configError(tok, `invalid header name "${name}"`);
  return name;
}
