/**
 * Canonical Proxyfile formatting for `my-server fmt`, in the spirit of `caddy fmt`: one directive
 * per line, tab indentation by block depth, one space between tokens, `{` at the end of the line
 * it opens, at most one blank line in a row, none just inside braces, and one blank line between
 * top-level blocks. Tokens are written exactly as they appear (quotes, escapes, `{$ENV}`
 * placeholders, heredocs) and comments are kept where they are, so formatting never changes what
 * the file means. Line continuations (`\` + newline) are kept and indented one level deeper.
 *
 * Throws a ConfigError on text that does not lex or whose braces do not balance.
 */
import { tokenize, type Comment, type Token } from './lexer.ts';
import { buildTree, isBare } from './parser.ts';

interface OutLine {
  indent: number;
  /** Segments of one logical line, split where the input had a line continuation. */
  segments: string[][];
  comment?: string;
  blankBefore: boolean;
  opens: boolean;
  closes: boolean;
}

type Element = { kind: 'token'; tok: Token } | { kind: 'comment'; comment: Comment };

export function formatConfig(text: string, options: { filename?: string } = {}): string {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const comments: Comment[] = [];
  const tokens = tokenize(source, options.filename ?? 'Proxyfile', { comments });
  buildTree(tokens);

  const elements: Element[] = [
    ...tokens.map((tok): Element => ({ kind: 'token', tok })),
    ...comments.map((comment): Element => ({ kind: 'comment', comment })),
  ].sort((a, b) => start(a) - start(b));

  const lines: OutLine[] = [];
  let nesting = 0;
  let prevEnd = 0;
  let current: OutLine | undefined;
  for (const [index, el] of elements.entries()) {
    const gap = source.slice(prevEnd, start(el));
    prevEnd = end(el);
    const breaks = countBreaks(gap);
    const startsLine = current === undefined || breaks > 0;
    const blankBefore = breaks >= 2;

    if (el.kind === 'comment') {
      if (!startsLine && current !== undefined) {
        current.comment = el.comment.text;
        continue;
      }
      current = { indent: nesting, segments: [], comment: el.comment.text, blankBefore, opens: false, closes: false };
      lines.push(current);
      continue;
    }

    const raw = source.slice(el.tok.start, el.tok.end);
    const open = isBare(el.tok, '{');
    const close = isBare(el.tok, '}');
    if (startsLine && open && lineHasOnly(elements, index, source) && canTakeBrace(current)) {
      // `{` alone on the next line opens the previous line's block: pull it up.
      (current as OutLine).segments.at(-1)?.push(raw);
      (current as OutLine).opens = true;
      nesting++;
      continue;
    }
    if (startsLine) {
      if (close) nesting = Math.max(0, nesting - 1);
      current = { indent: nesting, segments: [[raw]], blankBefore, opens: open, closes: close };
      lines.push(current);
    } else if (current !== undefined) {
      if (/\\\r?\n/.test(gap)) current.segments.push([raw]);
      else current.segments.at(-1)?.push(raw);
      current.opens = open;
    }
    if (open) nesting++;
  }
  return render(lines);
}

function render(lines: readonly OutLine[]): string {
  const out: string[] = [];
  let prev: OutLine | undefined;
  for (const line of lines) {
    if (prev !== undefined) {
      const topLevelBlockEnded = prev.closes && prev.indent === 0;
      const blank = !line.closes && !prev.opens && (line.blankBefore || topLevelBlockEnded);
      if (blank) out.push('');
    }
    const tabs = '\t'.repeat(line.indent);
    const body = line.segments.map((seg) => seg.join(' ')).join(` \\\n${tabs}\t`);
    const comment = line.comment === undefined ? '' : body === '' ? line.comment : ` ${line.comment}`;
    out.push(`${tabs}${body}${comment}`);
    prev = line;
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

function start(el: Element): number {
  return el.kind === 'token' ? el.tok.start : el.comment.start;
}

function end(el: Element): number {
  return el.kind === 'token' ? el.tok.end : el.comment.end;
}

/** Newlines in a gap between elements, not counting escaped ones (line continuations). */
function countBreaks(gap: string): number {
  let breaks = 0;
  for (let i = 0; i < gap.length; i++) {
    if (gap[i] === '\n' && !(gap[i - 1] === '\\' || (gap[i - 1] === '\r' && gap[i - 2] === '\\'))) breaks++;
  }
  return breaks;
}

/** Whether the element at `index` is the only one on its line (up to the next newline). */
function lineHasOnly(elements: readonly Element[], index: number, source: string): boolean {
  const next = elements[index + 1];
  if (next === undefined) return true;
  return countBreaks(source.slice(end(elements[index] as Element), start(next))) > 0;
}

function canTakeBrace(line: OutLine | undefined): boolean {
  if (line === undefined || line.comment !== undefined || line.opens || line.closes) return false;
  return line.segments.length > 0;
}
