/**
 * files/locate.ts StatBatch: the requests of one loop turn share one stat, issued after all of
 * them arrived, so sharing never answers with a stat older than a request.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StatBatch } from '../../../src/files/locate.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-statbatch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('stats asked for one path in the same turn share one result; another path gets its own', async () => {
  const file = path.join(dir, 'a.txt');
  const other = path.join(dir, 'b.txt');
  writeFileSync(file, 'aaa');
  writeFileSync(other, 'bbbbb');
  const batch = new StatBatch();
  const [s1, s2, s3] = await Promise.all([batch.stat(file), batch.stat(file), batch.stat(other)]);
  assert.ok(s1 && s2 && s3);
  assert.equal(s1, s2, 'one stat answered both requests for a.txt');
  assert.notEqual(s1, s3);
  assert.equal(s1.size, 3);
  assert.equal(s3.size, 5);
});

test('a change made after the request but before the turn ends is seen: the stat is issued after every waiter arrived', async () => {
  const file = path.join(dir, 'c.txt');
  writeFileSync(file, 'one');
  const batch = new StatBatch();
  const first = batch.stat(file);
  // Still the same turn: a request arriving now joins the batch; the file changes before the stat runs.
  writeFileSync(file, 'changed!');
  const second = batch.stat(file);
  assert.equal((await first)?.size, 8);
  assert.equal((await second)?.size, 8);
});

test('a later turn stats again (no cache: a changed file is seen at once)', async () => {
  const file = path.join(dir, 'd.txt');
  writeFileSync(file, 'x');
  const batch = new StatBatch();
  const before = await batch.stat(file);
  writeFileSync(file, 'xyz');
  const afterChange = await batch.stat(file);
  assert.equal(before?.size, 1);
  assert.equal(afterChange?.size, 3);
});

test('a missing file answers undefined to every waiter', async () => {
  const batch = new StatBatch();
  const missing = path.join(dir, 'nope');
  assert.deepEqual(await Promise.all([batch.stat(missing), batch.stat(missing)]), [undefined, undefined]);
});
