/**
 * The Proxyfile lexer: text → tokens with file, line and column. It knows the Caddyfile's token
 * rules and nothing about directives:
 *
 * - tokens are separated by whitespace; a newline ends a logical line unless escaped (`\` + newline
 *   continues the line);
 * - `"quoted"` tokens may span lines; inside, `\"` is a quote and every other `\x` stays as written;
 * - `` `backtick` `` tokens are raw (no escapes);
 * - `<<MARKER` + newline opens a heredoc that ends at a line holding only whitespace and MARKER; the
 *   closing line's indentation is removed from every line, the final newline dropped; `\<<` escapes;
 * - `#` starts a comment only at the start of a token (`a#b` is one token);
 * - `{$VAR}` and `{$VAR:default}` are replaced before lexing, so a value may hold several tokens or
 *   lines; an unset variable without default becomes empty. Positions still point into the file as
 *   written: every character of a substituted value maps to its `{$`.
 */
import { configError } from './errors.ts';
import type { Pos } from './types.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Token extends Pos {
  readonly text: string;
  /** How the token was quoted: '' bare, '"', '`', or '<' for a heredoc. Only bare `{` `}` are braces. */
  readonly quote: '' | '"' | '`' | '<';
  /** The first token of a logical line. */
  readonly newline: boolean;
  /** Offsets into the lexed text (after env substitution): [start, end). */
  readonly start: number;
  readonly end: number;
  /** Heredocs only: the indentation removed from each line, so a value's column can be found. */
  readonly indent?: number;
}

export interface Comment extends Pos {
  /** From `#` to the end of the line, without the newline. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface LexOptions {
  /** Values for `{$VAR}` placeholders; omitted: placeholders are kept as written (for `fmt`). */
  readonly env?: Env;
  /** When given, comments are appended to it. */
  readonly comments?: Comment[];
}

const HEREDOC_MARKER = /^[A-Za-z0-9_-]+$/;

export function tokenize(input: string, file: string, options: LexOptions = {}): Token[] {
  const source = input.startsWith('\uFEFF') ? input.slice(1) : input;
  const { text, origin } = options.env === undefined ? { text: source, origin: undefined } : expandEnv(source, options.env);
  const lines = lineStarts(source);
  const posAt = (offset: number): Pos => {
    const orig = origin === undefined ? offset : (origin[offset] ?? source.length);
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lines[mid] ?? 0) <= orig) lo = mid;
      else hi = mid - 1;
    }
    return { file, line: lo + 1, col: orig - (lines[lo] ?? 0) + 1 };
  };

  const tokens: Token[] = [];
  let newline = true;
  let i = 0;
  const n = text.length;
  const push = (value: string, quote: Token['quote'], start: number, end: number, indent?: number): void => {
    tokens.push({ ...posAt(start), text: value, quote, newline, start, end, ...(indent !== undefined ? { indent } : {}) });
    newline = false;
  };

  while (i < n) {
    const ch = text[i] as string;
    if (ch === '\n') {
      newline = true;
      i++;
      continue;
    }
    if (ch === '\\' && isNewlineAt(text, i + 1)) {
      i += text[i + 1] === '\r' ? 3 : 2;
      continue;
    }
    if (isSpace(ch)) {
      i++;
      continue;
    }
    if (ch === '#') {
      let end = text.indexOf('\n', i);
      if (end < 0) end = n;
      const body = text.slice(i, end).replace(/\r$/, '');
      options.comments?.push({ ...posAt(i), text: body, start: i, end: i + body.length });
      i = end;
      continue;
    }
    if (ch === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= n) throw configError(posAt(i), 'unterminated quoted string: missing closing \'"\'');
        const c = text[j] as string;
        if (c === '\\' && j + 1 < n) {
          const next = text[j + 1] as string;
          value += next === '"' ? '"' : `\\${next}`;
          j += 2;
          continue;
        }
        if (c === '"') break;
        value += c;
        j++;
      }
      push(value, '"', i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === '`') {
      const close = text.indexOf('`', i + 1);
      if (close < 0) throw configError(posAt(i), 'unterminated backtick string: missing closing \'`\'');
      push(text.slice(i + 1, close), '`', i, close + 1);
      i = close + 1;
      continue;
    }
    if (text.startsWith('<<', i)) {
      const heredoc = readHeredoc(text, i, posAt);
      if (heredoc !== undefined) {
        push(heredoc.value, '<', i, heredoc.end, heredoc.indent);
        i = heredoc.end;
        continue;
      }
    }
    // A bare word runs to the next whitespace. `\<` drops the backslash (escapes a heredoc);
    // other backslashes stay as written, except before a newline, where they continue the line.
    let value = '';
    let j = i;
    while (j < n) {
      const c = text[j] as string;
      if (isSpace(c) || c === '\n') break;
      if (c === '\\' && isNewlineAt(text, j + 1)) break;
      if (c === '\\' && text[j + 1] === '<') {
        value += '<';
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    push(value, '', i, j);
    i = j;
  }
  return tokens;
}

function readHeredoc(
  text: string,
  start: number,
  posAt: (offset: number) => Pos,
): { value: string; end: number; indent: number } | undefined {
  let j = start + 2;
  while (j < text.length && !isSpace(text[j] as string) && text[j] !== '\n') j++;
  // `<<MARKER` followed by anything but a newline is an ordinary token.
  if (!isNewlineAt(text, j)) return undefined;
  const marker = text.slice(start + 2, j);
  if (marker === '') throw configError(posAt(start), 'missing heredoc marker after "<<"');
  if (marker.startsWith('<')) throw configError(posAt(start), 'too many \'<\' for heredoc: use two, as in <<END');
  if (!HEREDOC_MARKER.test(marker)) {
    throw configError(posAt(start), `heredoc marker "${marker}" may only contain letters, digits, '-' and '_'`);
  }
  let lineStart = j + (text[j] === '\r' ? 2 : 1);
  const body: { text: string; at: number }[] = [];
  while (lineStart <= text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    const line = text.slice(lineStart, lineEnd).replace(/\r$/, '');
    const padding = /^[ \t]*/.exec(line)?.[0] ?? '';
    const rest = line.slice(padding.length);
    if (rest.startsWith(marker) && (rest.length === marker.length || isSpace(rest[marker.length] as string))) {
      const lines = body.map(({ text: content, at }) => {
        if (content === '') return '';
        if (!content.startsWith(padding)) {
          throw configError(posAt(at), `heredoc <<${marker}: line is not indented like the closing marker`);
        }
        return content.slice(padding.length);
      });
      return { value: lines.join('\n'), end: lineStart + padding.length + marker.length, indent: padding.length };
    }
    body.push({ text: line, at: lineStart });
    if (lineEnd >= text.length) break;
    lineStart = lineEnd + 1;
  }
  throw configError(posAt(start), `unterminated heredoc: missing closing marker ${marker}`);
}

/**
 * Replaces `{$NAME}` and `{$NAME:default}` in raw text, as the Caddyfile does before lexing.
 * `origin[i]` is the offset in `input` that output character i came from.
 */
export function expandEnv(input: string, env: Env): { text: string; origin: Int32Array } {
  let text = '';
  const origin: number[] = [];
  let i = 0;
  for (;;) {
    const open = input.indexOf('{$', i);
    const close = open < 0 ? -1 : input.indexOf('}', open + 2);
    if (open < 0 || close < 0) break;
    const inner = input.slice(open + 2, close);
    for (let k = i; k < open; k++) origin.push(k);
    text += input.slice(i, open);
    if (inner === '') {
      // `{$}` names nothing and stays as written.
      for (let k = open; k <= close; k++) origin.push(k);
      text += '{$}';
    } else {
      const colon = inner.indexOf(':');
      const name = colon < 0 ? inner : inner.slice(0, colon);
      const value = env[name] ?? (colon < 0 ? '' : inner.slice(colon + 1));
      for (let k = 0; k < value.length; k++) origin.push(open);
      text += value;
    }
    i = close + 1;
  }
  for (let k = i; k <= input.length; k++) origin.push(k);
  text += input.slice(i);
  return { text, origin: Int32Array.from(origin) };
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return starts;
}

function isNewlineAt(text: string, i: number): boolean {
  return text[i] === '\n' || (text[i] === '\r' && text[i + 1] === '\n');
}

/** Whitespace other than '\n' (which ends a line). '\r' counts as space, as in the Caddyfile. */
function isSpace(ch: string): boolean {
  return ch !== '\n' && /\s/u.test(ch);
}
