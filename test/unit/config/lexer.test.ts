import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/config/errors.ts';
import { tokenize, type Comment, type Env } from '../../../src/config/lexer.ts';

type Tok = [text: string, line: number, col: number, newline?: boolean, quote?: string];

function lex(input: string, env?: Env): Tok[] {
  return tokenize(input, 'P', env === undefined ? {} : { env }).map((t) => [t.text, t.line, t.col, t.newline, t.quote]);
}

const cases: { name: string; input: string; env?: Env; want: Tok[] }[] = [
  { name: 'whitespace separates tokens', input: 'a  b\tc', want: [['a', 1, 1, true, ''], ['b', 1, 4, false, ''], ['c', 1, 6, false, '']] },
  { name: 'a newline starts a logical line', input: 'a b\n  c', want: [['a', 1, 1, true, ''], ['b', 1, 3, false, ''], ['c', 2, 3, true, '']] },
  { name: 'CRLF line ends count as one newline', input: 'a\r\nb', want: [['a', 1, 1, true, ''], ['b', 2, 1, true, '']] },
  { name: 'a byte order mark is dropped', input: '\uFEFFa', want: [['a', 1, 1, true, '']] },
  { name: 'double quotes keep spaces', input: 'x "a b"', want: [['x', 1, 1, true, ''], ['a b', 1, 3, false, '"']] },
  { name: 'an escaped quote is a quote', input: '"a\\"b"', want: [['a"b', 1, 1, true, '"']] },
  { name: 'other escapes stay as written', input: '"a\\nb\\\\"', want: [['a\\nb\\\\', 1, 1, true, '"']] },
  { name: 'an empty quoted string is a token', input: 'a ""', want: [['a', 1, 1, true, ''], ['', 1, 3, false, '"']] },
  { name: 'a quote inside a word is literal', input: 'a"b"', want: [['a"b"', 1, 1, true, '']] },
  { name: 'a closing quote ends the token', input: '"a"b', want: [['a', 1, 1, true, '"'], ['b', 1, 4, false, '']] },
  {
    name: 'a quoted token may span lines and the next token is on the same logical line',
    input: '"a\nb" c\nd',
    want: [['a\nb', 1, 1, true, '"'], ['c', 2, 4, false, ''], ['d', 3, 1, true, '']],
  },
  { name: 'backticks are raw', input: '`{"a": "\\n"}`', want: [['{"a": "\\n"}', 1, 1, true, '`']] },
  { name: 'a comment runs to the end of the line', input: 'a # b c\nd', want: [['a', 1, 1, true, ''], ['d', 2, 1, true, '']] },
  { name: '# inside a token is not a comment', input: 'a#b c', want: [['a#b', 1, 1, true, ''], ['c', 1, 5, false, '']] },
  { name: '# inside quotes is not a comment', input: '"# no"', want: [['# no', 1, 1, true, '"']] },
  {
    name: 'a backslash before a newline continues the line',
    input: 'a \\\n  b\nc',
    want: [['a', 1, 1, true, ''], ['b', 2, 3, false, ''], ['c', 3, 1, true, '']],
  },
  { name: 'a backslash glued to a token before a newline continues too', input: 'a\\\nb', want: [['a', 1, 1, true, ''], ['b', 2, 1, false, '']] },
  { name: 'other backslashes in words stay', input: 'a\\b', want: [['a\\b', 1, 1, true, '']] },
  { name: 'braces are tokens of their own', input: 'a {\n}', want: [['a', 1, 1, true, ''], ['{', 1, 3, false, ''], ['}', 2, 1, true, '']] },
  { name: 'placeholders are ordinary text', input: '{host}{uri}', want: [['{host}{uri}', 1, 1, true, '']] },
  { name: 'an env placeholder is replaced', input: 'a {$X} b', env: { X: 'v' }, want: [['a', 1, 1, true, ''], ['v', 1, 3, false, ''], ['b', 1, 8, false, '']] },
  { name: 'an env default applies when unset', input: '{$NOPE:dflt}', env: {}, want: [['dflt', 1, 1, true, '']] },
  { name: 'a set but empty env value wins over the default', input: 'x{$E:dflt}y', env: { E: '' }, want: [['xy', 1, 1, true, '']] },
  { name: 'an unset env without default vanishes', input: 'a {$NOPE} b', env: {}, want: [['a', 1, 1, true, ''], ['b', 1, 11, false, '']] },
  { name: 'a default may contain colons', input: '{$NOPE:localhost:8080}', env: {}, want: [['localhost:8080', 1, 1, true, '']] },
  {
    name: 'an env value may hold several tokens',
    input: 'up {$U}',
    env: { U: 'h1:80 h2:80' },
    want: [['up', 1, 1, true, ''], ['h1:80', 1, 4, false, ''], ['h2:80', 1, 4, false, '']],
  },
  { name: 'an env value may hold lines', input: '{$L}', env: { L: 'a\nb' }, want: [['a', 1, 1, true, ''], ['b', 1, 1, true, '']] },
  { name: 'env placeholders are replaced inside quotes', input: '"x {$X}"', env: { X: 'y' }, want: [['x y', 1, 1, true, '"']] },
  { name: '{$} names nothing and stays', input: '{$}', env: {}, want: [['{$}', 1, 1, true, '']] },
  { name: 'without env, placeholders stay as written', input: '{$X:d}', want: [['{$X:d}', 1, 1, true, '']] },
  {
    name: 'a heredoc strips the closing marker indentation and takes arguments after it',
    input: 'respond <<HTML\n\t\t<p>\n\t\t  hi\n\n\t\t</p>\n\t\tHTML 200\nnext',
    want: [['respond', 1, 1, true, ''], ['<p>\n  hi\n\n</p>', 1, 9, false, '<'], ['200', 6, 8, false, ''], ['next', 7, 1, true, '']],
  },
  { name: 'an escaped heredoc is an ordinary token', input: 'a \\<<EOF', want: [['a', 1, 1, true, ''], ['<<EOF', 1, 3, false, '']] },
  { name: '<< followed by a space is an ordinary token', input: '<<EOF x', want: [['<<EOF', 1, 1, true, ''], ['x', 1, 7, false, '']] },
];

for (const c of cases) {
  test(`lexer: ${c.name}`, () => {
    assert.deepEqual(lex(c.input, c.env), c.want);
  });
}

test('lexer: comments are reported with their positions when asked', () => {
  const comments: Comment[] = [];
  tokenize('a # one\n  # two\nb#not', 'P', { comments });
  assert.deepEqual(
    comments.map((c) => [c.text, c.line, c.col]),
    [
      ['# one', 1, 3],
      ['# two', 2, 3],
    ],
  );
});

const errors: { name: string; input: string; want: string }[] = [
  { name: 'an unterminated quote', input: 'a\n  "open\n', want: 'P:2:3: unterminated quoted string: missing closing \'"\'' },
  { name: 'an unterminated backtick', input: 'a `x', want: "P:1:3: unterminated backtick string: missing closing '`'" },
  { name: 'an unterminated heredoc', input: 'x <<END\nbody\n', want: 'P:1:3: unterminated heredoc: missing closing marker END' },
  { name: 'a heredoc marker with odd characters', input: 'x <<E.D\nE.D', want: 'P:1:3: heredoc marker "E.D" may only contain letters, digits, \'-\' and \'_\'' },
  { name: 'too many < in a heredoc', input: 'x <<<END\nEND', want: "P:1:3: too many '<' for heredoc: use two, as in <<END" },
  {
    name: 'a heredoc line indented less than its marker',
    input: 'x <<END\n\t\tok\n\tbad\n\t\tEND',
    want: 'P:3:1: heredoc <<END: line is not indented like the closing marker',
  },
  { name: 'an unterminated quote after an env substitution', input: '{$A} "x', want: 'P:1:6: unterminated quoted string: missing closing \'"\'' },
];

for (const c of errors) {
  test(`lexer: ${c.name} is an error at its line and column`, () => {
    assert.throws(
      () => tokenize(c.input, 'P', { env: { A: 'long value' } }),
      (err: unknown) => err instanceof ConfigError && err.message === c.want && err.code === 'MS_ERR_CONFIG',
    );
  });
}
