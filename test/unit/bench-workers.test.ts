/**
 * The `workers` bench mode's table (bench/workers.ts renderWorkers): scaling per added core, requests
 * per CPU-second over every valid run, and the balance between the two workers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderWorkers, type WorkersResult, type WorkersSample } from '../../bench/workers.ts';

function sample(rps: number, cpuSeconds: number, workers: number[] = [], invalid?: string): WorkersSample {
  return {
    result: { command: 'wrk', seconds: 10, requestsPerSecond: rps, p50Ms: 1, p99Ms: 2, ...(invalid ? { invalid } : {}) },
    cpuSeconds,
    workerCpuSeconds: workers,
    ...(workers.length > 0 ? { primaryCpuSeconds: 0 } : {}),
  };
}

function result(id: 'my-server' | 'caddy', cores: 1 | 2, h1: WorkersSample[], h2: WorkersSample[]): WorkersResult {
  return { id, label: `${id} ${cores}`, cores, version: 'v', h1, h2 };
}

function row(text: string, metric: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith(`| ${metric} |`));
  assert.ok(line, `no row ${metric}`);
  return line.split('|').slice(2, -1).map((c) => c.trim());
}

test('renderWorkers: scaling is best 2-core ÷ best 1-core, per CPU-second sums valid runs, balance is the lowest less-busy share', () => {
  const text = renderWorkers(
    [
      result('my-server', 1, [sample(1000, 5), sample(800, 5)], [sample(2000, 10)]),
      result('my-server', 2, [sample(1500, 10, [4, 6]), sample(9999, 1, [1, 0], 'non-2xx')], [sample(3000, 20, [10, 10])]),
      result('caddy', 1, [sample(2000, 10)], [sample(2000, 10)]),
      result('caddy', 2, [sample(3000, 20)], [sample(4000, 20)]),
    ],
    { seconds: 10, rounds: 2 },
  );
  // my-server 1500/1000 = 1.5, Caddy 3000/2000 = 1.5: ratio 1.00, the goal met.
  assert.deepEqual(row(text, 'HTTPS/1.1: scaling, 2 cores ÷ 1 core'), ['1.50', '1.50', '1.00', '≥ 1.0 ✓']);
  // (1000 + 800) × 10 requests over 10 CPU-s; the invalid 2-core run is left out: 15,000 / 10.
  assert.equal(row(text, 'HTTPS/1.1: requests per server CPU-second, 1 core')[0], '1,800');
  assert.equal(row(text, 'HTTPS/1.1: requests per server CPU-second, 2 cores')[0], '1,500');
  assert.equal(row(text, 'HTTPS/1.1: less busy worker\'s share of the workers\' CPU, % (50 = even; lowest run)')[0], '40.0');
  assert.equal(row(text, 'HTTP/2: less busy worker\'s share of the workers\' CPU, % (50 = even; lowest run)')[0], '50.0');
  assert.match(row(text, 'HTTP/2: scaling, 2 cores ÷ 1 core')[1] ?? '', /^2\.00$/);
  assert.match(text, /\[\^workers-\d+\]: Caddy: one process: no workers to balance/);
});

test('renderWorkers: a server that did not start gets n/a cells with the reason, not a crash', () => {
  const failed: WorkersResult = { ...result('my-server', 2, [], []), failure: 'exited with 1' };
  const text = renderWorkers([result('my-server', 1, [sample(1000, 5)], [sample(1000, 5)]), failed], { seconds: 10, rounds: 1 });
  assert.match(row(text, 'HTTPS/1.1: scaling, 2 cores ÷ 1 core')[0] ?? '', /^n\/a\[\^workers-\d+\]$/);
  assert.match(text, /did not start or serve: exited with 1/);
});
