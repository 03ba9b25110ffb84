/**
 * The one config wrapper of util/go-regexp.ts (config/matchers/regexp.ts goRegexp): matchers,
 * header replace ops, health_body and log filters all take their regexps through it, so each
 * refusal is a FILE:LINE:COL error that keeps the translation error as its cause.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/index.ts';
import { ConfigError } from '../../../src/config/errors.ts';
import type { Token } from '../../../src/config/lexer.ts';
import { goRegexp } from '../../../src/config/matchers/regexp.ts';
import { GoRegexpError } from '../../../src/util/go-regexp.ts';

const tok = (text: string): Token => ({ text, quote: '', newline: false, start: 0, end: text.length, file: 'f', line: 2, col: 5 });

test('goRegexp: a translated source and flags, or a config error at the token with its cause', () => {
  assert.deepEqual(goRegexp(tok('(?i)^/a\\z')), { source: '^/a$(?![\\s\\S])', flags: 'i' });
  for (const [what, prefix] of [[undefined, ''], ['path_regexp', 'path_regexp: ']] as const) {
    assert.throws(
      () => goRegexp(tok('(?U)x'), what),
      (err: unknown) =>
        err instanceof ConfigError && err.message === `f:2:5: ${prefix}invalid regexp "(?U)x": the U flag has no JavaScript equivalent` && err.cause instanceof GoRegexpError,
    );
  }
});

test('matchers and directives refuse the same regexp with the same reason', async () => {
  const reason = 'invalid regexp "(?U)x": the U flag has no JavaScript equivalent';
  const cases: readonly (readonly [string, string])[] = [
    ['@m path_regexp (?U)x\n\trespond @m "y"', `path_regexp: ${reason}`],
    ['@m header_regexp X (?U)x\n\trespond @m "y"', `header_regexp: ${reason}`],
    ['header X-A (?U)x y', reason],
    ['reverse_proxy 127.0.0.1:9 {\n\t\thealth_body (?U)x\n\t}', reason],
  ];
  for (const [body, message] of cases) {
    await assert.rejects(parseConfig(`http://site.test {\n\t${body}\n}\n`, { filename: 't' }), (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.message === message), body);
  }
});
