import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePathMatcher } from '../../../src/routes/matchers/path.ts';

const cases: { pattern: string; yes: string[]; no: string[] }[] = [
  { pattern: '/foo', yes: ['/foo', '/FOO', '/Foo'], no: ['/foo/', '/foobar', '/foo/x', '/', '/fo'] },
  { pattern: '/api/*', yes: ['/api/', '/api/x', '/API/x/y', '/api/x?'], no: ['/api', '/apix', '/ap', '/v1/api/x'] },
  { pattern: '/api*', yes: ['/api', '/api/', '/apix', '/api/x/y', '/APIS'], no: ['/ap', '/v1/api'] },
  { pattern: '*', yes: ['/', '/anything', ''], no: [] },
  // Caddy cleans the path first: an empty one is `/`.
  { pattern: '/*', yes: ['/', '/x', '/x/y', ''], no: ['x'] },
  { pattern: '*.php', yes: ['/index.php', '/a/b.PHP', '.php'], no: ['/index.php/x', '/php', '/indexphp'] },
  // A `*` that is not a lone prefix/suffix wildcard is Go's path.Match: it does not cross `/`.
  { pattern: '/a/*/c', yes: ['/a/b/c', '/A/B/C'], no: ['/a/b/d/c', '/a//c', '/a/c', '/a/b/c/', '/a/b/cd', '/x/a/b/c'] },
  { pattern: '/a*b*c', yes: ['/abc', '/a1b2c', '/aXXbYYc'], no: ['/ab', '/acb', '/abcd', '/a/b/c'] },
  // Regular-expression characters are literal; path.Match's `?` and `[…]` are not.
  { pattern: '/a.b', yes: ['/a.b'], no: ['/axb'] },
  { pattern: '/a.b*', yes: ['/a.b', '/a.b/c'], no: ['/axb', '/axb/c'] },
  { pattern: '/v(1)+/*/x', yes: ['/v(1)+/y/x'], no: ['/v1/y/x', '/v11/y/x'] },
  { pattern: '/[a]/*/$', yes: ['/a/z/$'], no: ['/[a]/z/$', '/a/z/', '/b/z/$'] },
  { pattern: '/a?b/*/c', yes: ['/a?b/x/c', '/axb/x/c'], no: ['/ab/x/c', '/a/b/x/c', '/b/x/c'] },
  // A `*` matches newlines too.
  { pattern: '/x/*/y', yes: ['/x/a\nb/y'], no: [] },
];

test('compilePathMatcher: table of patterns and paths', () => {
  for (const { pattern, yes, no } of cases) {
    const match = compilePathMatcher(pattern);
    for (const p of yes) assert.equal(match(p), true, `${pattern} should match ${JSON.stringify(p)}`);
    for (const p of no) assert.equal(match(p), false, `${pattern} should not match ${JSON.stringify(p)}`);
  }
});
