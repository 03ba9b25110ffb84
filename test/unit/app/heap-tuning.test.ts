/**
 * app/heap-tuning.ts: the old-generation growing flag (the user's own value wins), the last-resort
 * GC at start (which must leave no `gc` behind) and the quiet-time release (runs after growth on
 * an idle loop, never on a busy one). The memory effects are measured in docs/design.md; these
 * check the decisions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { getHeapStatistics } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { heapGrowthGiven, holdMemoryRelease, memoryReleaseHolders, QuietRelease, releaseStartupMemory } from '../../../src/app/heap-tuning.ts';

test('heapGrowthGiven: node arguments or NODE_OPTIONS naming the flag, in either spelling', () => {
  assert.equal(heapGrowthGiven([], undefined), false);
  assert.equal(heapGrowthGiven(['--max-semi-space-size=8'], '--enable-source-maps'), false);
  assert.equal(heapGrowthGiven(['--heap-growing-percent=50'], undefined), true);
  assert.equal(heapGrowthGiven([], '--max-semi-space-size=8 --heap_growing_percent=10'), true);
  assert.equal(heapGrowthGiven(['--heap-growing-percentage=5'], undefined), false);
});

test('releaseStartupMemory collects and leaves no gc global, here or in new contexts', () => {
  const hadGc = typeof (globalThis as { gc?: unknown }).gc;
  releaseStartupMemory();
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, hadGc);
  assert.equal(runInNewContext('typeof gc'), 'undefined');
});

test('QuietRelease releases after heap growth on a quiet loop', async (t) => {
  const release = new QuietRelease({ intervalMs: 50, growthBytes: 1, minGapMs: 0 });
  t.after(() => release.stop());
  // Grow the heap a little, then stay quiet for a few intervals.
  const keep: unknown[] = [];
  for (let i = 0; i < 50_000; i++) keep.push({ i, s: `x${i}` });
  const before = getHeapStatistics().total_physical_size;
  assert.ok(before > 0);
  keep.length = 0;
  for (let i = 0; i < 40 && release.releases === 0; i++) await sleep(50);
  assert.ok(release.releases >= 1, 'no release on a quiet loop after growth');
});

test('QuietRelease does nothing without growth, nor while the loop is busy', async (t) => {
  const noGrowth = new QuietRelease({ intervalMs: 50, growthBytes: 1024 ** 4, minGapMs: 0 });
  t.after(() => noGrowth.stop());
  const busy = new QuietRelease({ intervalMs: 50, growthBytes: 1, minGapMs: 0, quietBelow: 0.05 });
  t.after(() => busy.stop());
  // Busy: each 50 ms interval spends ~45 ms blocked, far above 5% utilization.
  const until = Date.now() + 600;
  while (Date.now() < until) {
    const end = Date.now() + 45;
    while (Date.now() < end) {
      /* spin */
    }
    await sleep(5);
  }
  assert.equal(busy.releases, 0, 'released while the loop was busy');
  await sleep(300);
  assert.equal(noGrowth.releases, 0, 'released without growth');
});

test('holdMemoryRelease: one shared release for every App of a process, gone with the last hold', () => {
  const before = memoryReleaseHolders();
  const a = holdMemoryRelease();
  const b = holdMemoryRelease();
  assert.equal(memoryReleaseHolders(), before + 2);
  a();
  a(); // a second call of one hold changes nothing
  assert.equal(memoryReleaseHolders(), before + 1);
  b();
  assert.equal(memoryReleaseHolders(), before);
});
