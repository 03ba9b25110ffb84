/**
 * app/heap-tuning.ts: the V8 flags `run` sets, which the user's own values outrank (the check is
 * cli/node-flags.ts missingNodeFlags). Their memory effect is measured in docs/design.md; this
 * checks the decision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_GROWING_FLAG, WASM_TIERING_FLAG } from '../../../src/app/heap-tuning.ts';
import { missingNodeFlags } from '../../../src/cli/node-flags.ts';

const flagGiven = (flag: string, execArgv: readonly string[], nodeOptions: string | undefined): boolean => missingNodeFlags([flag], execArgv, nodeOptions).length === 0;
const heapGrowthGiven = (execArgv: readonly string[], nodeOptions: string | undefined): boolean => flagGiven(HEAP_GROWING_FLAG, execArgv, nodeOptions);

test('the growing flag is left to the user when node arguments or NODE_OPTIONS name it, in either spelling', () => {
  assert.equal(heapGrowthGiven([], undefined), false);
  assert.equal(heapGrowthGiven(['--max-semi-space-size=8'], '--enable-source-maps'), false);
  assert.equal(heapGrowthGiven(['--heap-growing-percent=50'], undefined), true);
  assert.equal(heapGrowthGiven([], '--max-semi-space-size=8 --heap_growing_percent=10'), true);
  assert.equal(heapGrowthGiven(['--heap-growing-percentage=5'], undefined), false);
});

test('the WebAssembly tiering budget is left to the user when they name it, whatever its value', () => {
  assert.equal(flagGiven(WASM_TIERING_FLAG, [], undefined), false);
  assert.equal(flagGiven(WASM_TIERING_FLAG, ['--wasm-tiering-budget=1'], undefined), true);
  assert.equal(flagGiven(WASM_TIERING_FLAG, [], '--wasm_tiering_budget=5'), true);
  assert.equal(flagGiven(WASM_TIERING_FLAG, ['--wasm-tiering-budget-extra=1', '--heap-growing-percent=5'], undefined), false);
});
