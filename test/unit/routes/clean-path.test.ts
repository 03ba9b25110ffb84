import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanPath, splitTarget } from '../../../src/routes/context.ts';

test('cleanPath decodes escapes, collapses slashes and resolves dot segments, never above the root', () => {
  const table: [string, string | undefined][] = [
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/%73ecret/x', '/secret/x'],
    ['//secret/x', '/secret/x'],
    ['/a/../secret/x', '/secret/x'],
    ['/a/./b/', '/a/b/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/..', '/'],
    ['/a%20b', '/a b'],
    ['/%zz', undefined],
    ['/a//b/', '/a/b/'],
  ];
  for (const [input, want] of table) assert.equal(cleanPath(input), want, input);
});

test('splitTarget takes the path and query of origin-form and absolute-form targets', () => {
  assert.deepEqual(splitTarget('/p?q=1'), { path: '/p', query: 'q=1' });
  assert.deepEqual(splitTarget('/p'), { path: '/p', query: '' });
  assert.deepEqual(splitTarget('http://other.test/x?y'), { path: '/x', query: 'y' });
  assert.deepEqual(splitTarget('*'), { path: '/', query: '' });
});
