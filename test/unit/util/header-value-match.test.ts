import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerValueMatches, headerValueTest } from '../../../src/util/header-value-match.ts';
import { responseMatches } from '../../../src/proxy/response-handling.ts';

// Caddy's matchHeaders (modules/caddyhttp/matchers.go): the five forms of an allowed value.
const CASES: [allowed: string, actual: string, matches: boolean][] = [
  ['*', '', true],
  ['*', 'anything', true],
  ['*json*', 'application/json; charset=utf-8', true],
  ['*json*', 'text/html', false],
  ['*/json', 'application/json', true],
  ['*/json', 'application/json; q=1', false],
  ['text/*', 'text/html', true],
  ['text/*', 'application/text', false],
  ['exact', 'exact', true],
  ['exact', 'exactly', false],
  ['**', 'x', true], // "*" + "" + "*": contains the empty string
  ['a*b', 'a*b', true], // a star inside is literal
  ['a*b', 'axb', false],
];

test('headerValueTest and headerValueMatches follow Caddy\'s five forms, and agree', () => {
  for (const [allowed, actual, matches] of CASES) {
    assert.equal(headerValueTest(allowed)(actual), matches, `${allowed} vs ${actual}`);
    assert.equal(headerValueMatches(actual, allowed), matches, `${allowed} vs ${actual} (expanded form)`);
  }
});

test('reverse_proxy response matchers use the same rule for header values', () => {
  for (const [allowed, actual, matches] of CASES) {
    assert.equal(responseMatches({ headers: [{ name: 'X-Test', values: [allowed] }] }, 200, { 'x-test': actual }), matches, `${allowed} vs ${actual}`);
  }
});
