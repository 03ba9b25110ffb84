import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoRegexpError, translateGoRegexp } from '../../../src/util/go-regexp.ts';

test('Go RE2 forms Caddyfiles use become JavaScript: flags, named groups, \\A and \\z', () => {
  assert.deepEqual(translateGoRegexp('(?i)^/API/(?P<rest>.*)'), { source: '^/API/(?<rest>.*)', flags: 'i' });
  assert.deepEqual(translateGoRegexp('(?is)a.b'), { source: 'a.b', flags: 'is' });
  const z = translateGoRegexp('\\Afoo\\z');
  const re = new RegExp(z.source, z.flags);
  assert.ok(re.test('foo'));
  assert.ok(!re.test('foo\n'), '\\z is the very end, unlike $');
  assert.ok(!re.test('xfoo'));
});

test('what JavaScript would read differently is refused with the reason', () => {
  for (const [pattern, why] of [
    ['(?U)a+', /U flag/],
    ['(?x)a', /flag "x"/],
    ['\\Qa.b\\E', /Go RE2 syntax/],
    ['[[:alpha:]]', /Go RE2 syntax/],
    ['\\p{Greek}', /Go RE2 syntax/],
    ['(unclosed', /Unterminated group/],
  ] as const) {
    assert.throws(() => translateGoRegexp(pattern), (err: unknown) => err instanceof GoRegexpError && why.test(err.message), pattern);
  }
});

test('escapes are read in pairs: an escaped backslash before A, z or Q is a backslash, not an anchor or a refusal', () => {
  assert.equal(translateGoRegexp('\\\\A').source, '\\\\A');
  assert.ok(new RegExp(translateGoRegexp('^a\\\\z$').source).test('a\\z'));
  assert.ok(new RegExp(translateGoRegexp('x\\\\Q').source).test('x\\Q'));
  assert.equal(translateGoRegexp('\\Aa\\z').source, '^a$(?![\\s\\S])');
});
