import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchConfig } from '../../../src/config/index.ts';

const DEBOUNCE_MS = 150;
/** Long enough for fs events to arrive and the debounce to fire on a loaded machine. */
const SETTLE_MS = 1500;

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-watch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return;
    await sleep(20);
  }
}

test('replacing the Proxyfile by atomic rename triggers one debounced callback', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  await writeFile(file, 'a.example {\n}\n');
  let calls = 0;
  const watcher = watchConfig(file, [file], () => calls++, { debounceMs: DEBOUNCE_MS });
  t.after(() => watcher.close());
  await watcher.ready;

  // What editors do: write a temporary sibling, then rename it over the original.
  const tmp = path.join(dir, '.Proxyfile.swp');
  await writeFile(tmp, 'a.example {\n\trespond hi\n}\n');
  await rename(tmp, file);

  await waitFor(() => calls > 0, SETTLE_MS);
  await sleep(DEBOUNCE_MS * 3);
  assert.equal(calls, 1);

  // The watcher survives the inode swap: a second save is seen too.
  await writeFile(tmp, 'a.example {\n\trespond again\n}\n');
  await rename(tmp, file);
  await waitFor(() => calls > 1, SETTLE_MS);
  await sleep(DEBOUNCE_MS * 3);
  assert.equal(calls, 2);
});

test('a burst of writes to watched files is one callback; other files in the directory are ignored', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  const imported = path.join(dir, 'sites.conf');
  await writeFile(file, 'import sites.conf\n');
  await writeFile(imported, 'a.example {\n}\n');
  let calls = 0;
  const watcher = watchConfig(file, [file, imported], () => calls++, { debounceMs: DEBOUNCE_MS });
  t.after(() => watcher.close());
  await watcher.ready;

  await writeFile(path.join(dir, 'unrelated.txt'), 'x');
  await sleep(DEBOUNCE_MS * 4);
  assert.equal(calls, 0);

  for (let i = 0; i < 5; i++) {
    await writeFile(imported, `a.example {\n\trespond ${i}\n}\n`);
    await sleep(DEBOUNCE_MS / 5);
  }
  await waitFor(() => calls > 0, SETTLE_MS);
  await sleep(DEBOUNCE_MS * 3);
  assert.equal(calls, 1);
});

test('closing the watcher cancels a pending callback', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  await writeFile(file, 'a.example {\n}\n');
  let calls = 0;
  const watcher = watchConfig(file, [], () => calls++, { debounceMs: 400 });
  await watcher.ready;
  await writeFile(file, 'b.example {\n}\n');
  await sleep(150);
  await watcher.close();
  await sleep(600);
  assert.equal(calls, 0);
});

test('an aborted signal closes the watcher', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  await writeFile(file, 'a.example {\n}\n');
  const controller = new AbortController();
  let calls = 0;
  const watcher = watchConfig(file, [], () => calls++, { debounceMs: DEBOUNCE_MS, signal: controller.signal });
  t.after(() => watcher.close());
  await watcher.ready;
  controller.abort();
  await sleep(50);
  await writeFile(file, 'b.example {\n}\n');
  await sleep(DEBOUNCE_MS * 4);
  assert.equal(calls, 0);
});

test('the callback names the watched files that changed in the burst, and only those', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  const cert = path.join(dir, 'site.pem');
  await writeFile(file, 'a.example {\n}\n');
  await writeFile(cert, 'x');
  const bursts: string[][] = [];
  const watcher = watchConfig(file, [cert], (changed) => bursts.push([...changed].sort()), { debounceMs: DEBOUNCE_MS });
  t.after(() => watcher.close());
  await watcher.ready;
  await writeFile(cert, 'y');
  await waitFor(() => bursts.length > 0, SETTLE_MS);
  assert.deepEqual(bursts, [[cert]]);
  await writeFile(file, 'b.example {\n}\n');
  await writeFile(cert, 'z');
  await waitFor(() => bursts.length > 1, SETTLE_MS);
  assert.deepEqual(bursts[1], [file, cert].sort());
});
