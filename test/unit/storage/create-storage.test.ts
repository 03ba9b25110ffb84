import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorage } from '../../../src/storage/index.ts';

test('createStorage for kind file stores under the given path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-create-'));
  try {
    const storage = await createStorage({ kind: 'file', path: dir });
    assert.equal(storage.toString(), `file:${dir}`);
    await storage.put('a/b', 'value');
    assert.equal(await readFile(join(dir, 'a', 'b'), 'utf8'), 'value');
    await storage.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
