import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');

/** Every .ts file under `dir`, recursively. */
async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name));
}

test('only src/x509/peculiar.ts imports @peculiar/x509, and it loads reflect-metadata first', async () => {
  const importers: string[] = [];
  for (const file of [...(await sources(join(ROOT, 'src'))), ...(await sources(join(ROOT, 'test')))]) {
    const text = await readFile(file, 'utf8');
    if (/^\s*(import|export)\b[^;]*['"]@peculiar\/x509['"]|import\(\s*['"]@peculiar\/x509['"]/m.test(text)) importers.push(relative(ROOT, file));
  }
  assert.deepEqual(importers, ['src/x509/peculiar.ts']);
  const text = await readFile(join(ROOT, 'src/x509/peculiar.ts'), 'utf8');
  const polyfill = text.indexOf("import 'reflect-metadata';");
  assert.ok(polyfill >= 0 && polyfill < text.indexOf("from '@peculiar/x509'"));
});
