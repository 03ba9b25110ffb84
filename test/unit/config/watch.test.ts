import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchConfig, type ConfigWatcher } from '../../../src/config/index.ts';

const DEBOUNCE_MS = 150;
/** Long enough for fs events to arrive and the debounce to fire on a loaded machine. */
const SETTLE_MS = 1500;
/**
 * How long "no further callback" is watched for: three debounce periods, so a second callback
 * from the same burst (or one the watcher should not make at all) would have fired by then. These
 * waits are the behaviour under test ("nothing more happens"), not stand-ins for an event.
 */
const QUIET_MS = DEBOUNCE_MS * 3;

/**
 * A temp dir removed after the test, once the watchers given to `closeFirst` are closed: removing
 * a directory under an open chokidar watcher makes it watch the parent for the directory's return.
 */
async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: string; closeFirst: (w: ConfigWatcher) => void }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-watch-'));
  const watchers: ConfigWatcher[] = [];
  t.after(async () => {
    for (const w of watchers) await w.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, closeFirst: (w) => void watchers.push(w) };
}

/** Counts onChange callbacks; call(n) resolves when the n-th has happened (the event itself, no polling). */
function callbacks(): { onChange: () => void; count: () => number; call: (n: number) => Promise<void> } {
  let count = 0;
  const waiting = new Map<number, () => void>();
  return {
    onChange: () => {
      count++;
      waiting.get(count)?.();
    },
    count: () => count,
    call: (n) =>
      new Promise<void>((resolve, reject) => {
        if (count >= n) return resolve();
        const timer = setTimeout(() => reject(new Error(`callback ${n} did not come within ${SETTLE_MS} ms (${count} so far)`)), SETTLE_MS);
        waiting.set(n, () => (clearTimeout(timer), resolve()));
      }),
  };
}

test('replacing the Proxyfile by atomic rename triggers one debounced callback', async (t) => {
  const { dir, closeFirst } = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  await writeFile(file, 'a.example {\n}\n');
  const cb = callbacks();
  const watcher = watchConfig(file, [file], cb.onChange, { debounceMs: DEBOUNCE_MS });
  closeFirst(watcher);
  await watcher.ready;

  // What editors do: write a temporary sibling, then rename it over the original.
  const tmp = path.join(dir, '.Proxyfile.swp');
  await writeFile(tmp, 'a.example {\n\trespond hi\n}\n');
  await rename(tmp, file);

  await cb.call(1);

  // The watcher survives the inode swap: a second save is seen too. One quiet window at the end
  // covers both saves: a second callback from the first would make the count 3 there.
  await writeFile(tmp, 'a.example {\n\trespond again\n}\n');
  await rename(tmp, file);
  await cb.call(2);
  await sleep(QUIET_MS);
  assert.equal(cb.count(), 2);
});

test('a burst of writes to watched files is one callback; other files in the directory are ignored', async (t) => {
  const { dir, closeFirst } = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  const imported = path.join(dir, 'sites.conf');
  await writeFile(file, 'import sites.conf\n');
  await writeFile(imported, 'a.example {\n}\n');
  const cb = callbacks();
  const watcher = watchConfig(file, [file, imported], cb.onChange, { debounceMs: DEBOUNCE_MS });
  closeFirst(watcher);
  await watcher.ready;

  await writeFile(path.join(dir, 'unrelated.txt'), 'x');
  // Time for the event to arrive and a wrongly scheduled callback to fire (see QUIET_MS).
  await sleep(DEBOUNCE_MS + QUIET_MS);
  assert.equal(cb.count(), 0);

  // The burst is spread over time shorter than the debounce: these waits are the burst's shape.
  for (let i = 0; i < 5; i++) {
    await writeFile(imported, `a.example {\n\trespond ${i}\n}\n`);
    await sleep(DEBOUNCE_MS / 5);
  }
  await cb.call(1);
  await sleep(QUIET_MS);
  assert.equal(cb.count(), 1);
});

test('closing the watcher cancels a pending callback', async (t) => {
  const { dir, closeFirst } = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  await writeFile(file, 'a.example {\n}\n');
  const cb = callbacks();
  const watcher = watchConfig(file, [], cb.onChange, { debounceMs: 400 });
  closeFirst(watcher);
  await watcher.ready;
  await writeFile(file, 'b.example {\n}\n');
  // The change must have reached the watcher (its callback pending) before close; nothing outside
  // shows that moment, so wait well under the 400 ms debounce for the fs event to arrive.
  await sleep(150);
  await watcher.close();
  // Past the debounce with room: a callback that close() failed to cancel would have fired.
  await sleep(600);
  assert.equal(cb.count(), 0);
});

test('an aborted signal closes the watcher', async (t) => {
  const { dir, closeFirst } = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  await writeFile(file, 'a.example {\n}\n');
  const controller = new AbortController();
  const cb = callbacks();
  const watcher = watchConfig(file, [], cb.onChange, { debounceMs: DEBOUNCE_MS, signal: controller.signal });
  closeFirst(watcher);
  await watcher.ready;
  controller.abort();
  // The abort starts chokidar's close, and nothing can await it: a second close() returns at once
  // rather than with the close in flight (src/config/watch.ts). A write that lands while chokidar
  // is still closing can leave it watching the parent directory (/tmp) for good, which keeps this
  // test process alive after its tests (seen once in a suite run). So let the close finish first.
  await sleep(100);
  await writeFile(file, 'b.example {\n}\n');
  // Time for the event to arrive and a callback from a watcher still open to fire (see QUIET_MS).
  await sleep(DEBOUNCE_MS + QUIET_MS);
  assert.equal(cb.count(), 0);
});

test('the callback names the watched files that changed in the burst, and only those', async (t) => {
  const { dir, closeFirst } = await tempDir(t);
  const file = path.join(dir, 'Proxyfile');
  const cert = path.join(dir, 'site.pem');
  await writeFile(file, 'a.example {\n}\n');
  await writeFile(cert, 'x');
  const bursts: string[][] = [];
  const cb = callbacks();
  const watcher = watchConfig(
    file,
    [cert],
    (changed) => {
      bursts.push([...changed].sort());
      cb.onChange();
    },
    { debounceMs: DEBOUNCE_MS },
  );
  closeFirst(watcher);
  await watcher.ready;
  await writeFile(cert, 'y');
  await cb.call(1);
  assert.deepEqual(bursts, [[cert]]);
  await writeFile(file, 'b.example {\n}\n');
  await writeFile(cert, 'z');
  await cb.call(2);
  assert.deepEqual(bursts[1], [file, cert].sort());
});

test('the watcher tracks only the watched files of a directory, not its other entries', async (t) => {
  const { dir, closeFirst } = await tempDir(t);
  // A certificate folder next to many others (the bench keeps 2,000 there): each tracked entry
  // is a stat and an inotify watch at start.
  await Promise.all(Array.from({ length: 200 }, (_, i) => writeFile(path.join(dir, `site-${i}.crt`), 'x')));
  const cert = path.join(dir, 'main.crt');
  const key = path.join(dir, 'main.key');
  await writeFile(cert, 'c');
  await writeFile(key, 'k');
  const cb = callbacks();
  const w = watchConfig(cert, [key], cb.onChange, { debounceMs: DEBOUNCE_MS });
  closeFirst(w);
  await w.ready;
  const tracked = w.trackedPaths().filter((p) => p.startsWith(dir + path.sep));
  assert.deepEqual(tracked.sort(), [cert, key].sort(), `tracked: ${tracked.length} paths`);
  // And the watched files still report.
  await writeFile(key, 'k2');
  await cb.call(1);
});
