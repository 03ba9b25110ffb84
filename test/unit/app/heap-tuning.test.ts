/**
 * app/heap-tuning.ts: the old-generation growing flag, which the user's own value outranks. Its
 * memory effect is measured in docs/design.md; this checks the decision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flagGiven, heapGrowthGiven, WASM_TIERING_FLAG } from '../../../src/app/heap-tuning.ts';

test('heapGrowthGiven: node arguments or NODE_OPTIONS naming the flag, in either spelling', () => {
  assert.equal(heapGrowthGiven([], undefined), false);
  assert.equal(heapGrowthGiven(['--max-semi-space-size=8'], '--enable-source-maps'), false);
  assert.equal(heapGrowthGiven(['--heap-growing-percent=50'], undefined), true);
  assert.equal(heapGrowthGiven([], '--max-semi-space-size=8 --heap_growing_percent=10'), true);
  assert.equal(heapGrowthGiven(['--heap-growing-percentage=5'], undefined), false);
});

test('flagGiven: the WebAssembly tiering budget is left to the user when they name it, whatever its value', () => {
  assert.equal(flagGiven(WASM_TIERING_FLAG, [], undefined), false);
  assert.equal(flagGiven(WASM_TIERING_FLAG, ['--wasm-tiering-budget=1'], undefined), true);
  assert.equal(flagGiven(WASM_TIERING_FLAG, [], '--wasm_tiering_budget=5'), true);
  assert.equal(flagGiven(WASM_TIERING_FLAG, ['--wasm-tiering-budget-extra=1', '--heap-growing-percent=5'], undefined), false);
});
