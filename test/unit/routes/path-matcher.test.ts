import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePathMatcher } from '../../../src/routes/matchers/path.ts';

const cases: { pattern: string; yes: string[]; no: string[] }[] = [
  { pattern: '/foo', yes: ['/foo', '/FOO', '/Foo'], no: ['/foo/', '/foobar', '/foo/x', '/', '/fo'] },
  { pattern: '/api/*', yes: ['/api/', '/api/x', '/API/x/y', '/api/x?'], no: ['/api', '/apix', '/ap', '/v1/api/x'] },
  { pattern: '/api*', yes: ['/api', '/api/', '/apix', '/api/x/y', '/APIS'], no: ['/ap', '/v1/api'] },
  { pattern: '*', yes: ['/', '/anything', ''], no: [] },
  { pattern: '/*', yes: ['/', '/x', '/x/y'], no: ['', 'x'] },
  { pattern: '*.php', yes: ['/index.php', '/a/b.PHP', '.php'], no: ['/index.php/x', '/php', '/indexphp'] },
  { pattern: '/a/*/c', yes: ['/a/b/c', '/a/b/d/c', '/a//c', '/A/B/C'], no: ['/a/c', '/a/b/c/', '/a/b/cd', '/x/a/b/c'] },
  { pattern: '/a*b*c', yes: ['/abc', '/a1b2c', '/aXXbYYc'], no: ['/ab', '/acb', '/abcd'] },
  // Regular-expression characters are literal.
  { pattern: '/a.b', yes: ['/a.b'], no: ['/axb'] },
  { pattern: '/a.b*', yes: ['/a.b', '/a.b/c'], no: ['/axb', '/axb/c'] },
  { pattern: '/v(1)+/*/x', yes: ['/v(1)+/y/x'], no: ['/v1/y/x', '/v11/y/x'] },
  { pattern: '/[a]/*/$', yes: ['/[a]/z/$'], no: ['/a/z/', '/a/z/$'] },
  { pattern: '/a?b/*/c', yes: ['/a?b/x/c'], no: ['/ab/x/c', '/b/x/c'] },
  // `.` in a compiled pattern also matches newlines (the 's' flag), as `*` means any run of characters.
  { pattern: '/x/*/y', yes: ['/x/a\nb/y'], no: [] },
];

test('compilePathMatcher: table of patterns and paths', () => {
  for (const { pattern, yes, no } of cases) {
    const match = compilePathMatcher(pattern);
    for (const p of yes) assert.equal(match(p), true, `${pattern} should match ${JSON.stringify(p)}`);
    for (const p of no) assert.equal(match(p), false, `${pattern} should not match ${JSON.stringify(p)}`);
  }
});
