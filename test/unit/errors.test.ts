import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ERROR_CODES, MyServerError, causeChain, describeError } from '../../src/errors.ts';

test('describeError joins the cause chain', () => {
  const root = new Error('connection refused');
  const err = new MyServerError('MS_ERR_ACME_NETWORK', 'fetching directory', { cause: root });
  assert.equal(err.code, 'MS_ERR_ACME_NETWORK');
  assert.equal(describeError(err), 'fetching directory: connection refused');
});

test('docs/errors.md lists exactly the codes of errors.ts, and src/ raises each of them', async () => {
  const root = join(import.meta.dirname, '../..');
  const doc = await readFile(join(root, 'docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `(MS_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual([...documented].sort(), [...ERROR_CODES].sort());

  let code = '';
  for (const entry of await readdir(join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && join(entry.parentPath, entry.name) !== join(root, 'src/errors.ts')) {
      code += await readFile(join(entry.parentPath, entry.name), 'utf8');
    }
  }
  // A code is raised where it is passed to a constructor (MyServerError, a subclass's super, configError).
  for (const c of ERROR_CODES) {
    const raised = new RegExp(`(?:MyServerError|super|Error)\\(\\s*'${c}'`).test(code);
    assert.ok(raised, `${c} is documented but nothing in src/ raises it`);
  }
});

test('causeChain walks outermost first, stops after a non-Error cause, and ends a looping chain', () => {
  const root = new Error('root');
  const mid = new MyServerError('MS_ERR_STORAGE', 'reading key', { cause: root });
  const top = new MyServerError('MS_ERR_ACME_NETWORK', 'fetching nonce', { cause: mid });
  assert.deepEqual([...causeChain(top)], [top, mid, root]);
  assert.deepEqual([...causeChain(new Error('a', { cause: 'text' }))].slice(1), ['text']);
  assert.deepEqual([...causeChain(undefined)], []);
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  Object.assign(a, { cause: b });
  assert.equal([...causeChain(a)].length, 8);
  assert.equal(describeError(a), 'a: b');
  assert.equal(describeError(new Error('outer', { cause: 42 })), 'outer: 42');
});
