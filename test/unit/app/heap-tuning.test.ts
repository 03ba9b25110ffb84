/**
 * app/heap-tuning.ts: the V8 flags `run` sets, which the user's own values outrank (the check is
 * cli/node-flags.ts missingNodeFlags). Their memory effect is measured in docs/design.md; this
 * checks the decision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { HEAP_GROWING_FLAG, MARKING_TRIGGER_FLAG, RUN_V8_FLAGS, WASM_TIERING_FLAG } from '../../../src/app/heap-tuning.ts';
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

test('the marking trigger is left to the user when they name it', () => {
  assert.equal(flagGiven(MARKING_TRIGGER_FLAG, [], '--heap-growing-percent=100'), false);
  assert.equal(flagGiven(MARKING_TRIGGER_FLAG, ['--incremental-marking-soft-trigger=0'], undefined), true);
  assert.equal(flagGiven(MARKING_TRIGGER_FLAG, [], '--incremental_marking_soft_trigger=90'), true);
  assert.equal(flagGiven(MARKING_TRIGGER_FLAG, ['--incremental-marking-hard-trigger=90'], undefined), false);
});

test('the V8 of this Node.js knows every flag run sets at run time (an unknown one is only a line on stderr)', () => {
  for (const flag of RUN_V8_FLAGS) {
    const r = spawnSync(process.execPath, ['-e', `require('node:v8').setFlagsFromString(${JSON.stringify(flag)})`], { encoding: 'utf8' });
    assert.equal(r.status, 0, flag);
    assert.equal(r.stderr, '', `${flag}: ${r.stderr}`);
  }
  // The check can fail: a flag V8 does not know is reported there.
  const unknown = spawnSync(process.execPath, ['-e', `require('node:v8').setFlagsFromString('--no-such-flag-my-server')`], { encoding: 'utf8' });
  assert.match(unknown.stderr, /unrecognized flag/);
});
