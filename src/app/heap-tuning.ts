/**
 * How fast V8 lets the old generation grow between full collections, for a process that serves
 * (issue 12: peak RSS under load).
 *
 * Under the proxy benchmark's loads (64 keep-alive HTTPS connections, HTTP/2, handshakes) request
 * objects outlive the 8 MiB semi-spaces and are promoted, and V8's default growing factor (chosen
 * per GC between 1.1 and 4 from its own speed estimates) let the old generation reach 42–67 MiB
 * committed around 15 MiB live: peak VmHWM ~190–210 MiB against ~90 MiB idle.
 *
 * A fixed 2.0 (100%). The first choice, 1.3, held the 1 KiB loads' peak at ~135 MiB but proxying
 * 64 KiB bodies ran a full GC every ~90 ms (83 in 8 s, against 20 at 2.0 and 2 with V8's own
 * choice) and cost ~45% more CPU per request (346 vs 239–248 µs, paired runs in docs/design.md
 * "Heap growth and 64 KiB bodies"); 2.0 keeps the peak of all loads, 64 KiB included, at
 * ~175 MiB (V8's own: ~210). `--memory-saver-mode` and `--optimize-for-size` gave a lower peak
 * but cost 25–45% of throughput.
 *
 * Unlike the semi-space size (cli/node-flags.ts), V8 reads this flag at every full GC, so setting
 * it at run time works and needs no re-exec.
 */
import { setFlagsFromString } from 'node:v8';
import { missingNodeFlags } from '../cli/node-flags.ts';

export const HEAP_GROWING_FLAG = '--heap-growing-percent=100';

/**
 * V8 re-compiles a hot WebAssembly function with its optimizing compiler on a worker thread.
 * undici's HTTP parser (llhttp, one huge state-machine function) got there on the third proxied
 * request, and the compile left ~9.6 MiB in that thread's malloc arena, which glibc keeps: the
 * idle RSS of a server that had proxied three requests. A budget 100 times the default (13,000,000
 * "bytes executed") defers that to somewhere between 20 and ~1,200 requests (measured): a lightly
 * used server keeps the baseline (Liftoff) parser, a loaded one still gets the optimized one
 * within its first second. hash-wasm's bcrypt runs its loops long enough to tier up either way.
 * V8 reads the budget when a module is compiled; undici's parser is compiled at the first proxied
 * request, after this is set.
 */
export const WASM_TIERING_FLAG = '--wasm-tiering-budget=1300000000';

/**
 * When V8 starts marking the old generation for the next full GC: once the old generation has used
 * 70% of the room the growing factor gave it since the last full GC ((size − size after that GC) ÷
 * (limit − size after that GC), V8's PercentToLimit; the larger of that and the same figure for
 * all of V8's memory), about 1.7 × live with the factor above. V8's own rule, which this replaces,
 * starts as soon as the room left under the limit is no more than the young generation could
 * promote (~24 MiB with 8 MiB semi-spaces).
 * With the factor above and ~18 MiB live after a GC, the room left is just that, so under the
 * 64 KiB proxy load every full GC began the next at once: 11–14 of them in 5 s, 6–9 ms pauses
 * each (`--trace-gc`, `--trace-incremental-marking`: "Start (task)" with 24 MiB of slack). With
 * the trigger: none in 5 s, p99 ~19–31 against ~36–41 ms, and the same peak RSS (the limit is
 * unchanged; a growing factor of 2.5 did as well for the GCs but raised the peak by ~10 MiB).
 * docs/design.md "Full GCs that began at once". Read by V8 at each allocation-limit check, so
 * setting it at run time works.
 *
 * What it also replaces: V8's immediate start of marking near `--max-old-space-size` (or in
 * memory-saver mode); marking then starts from a task at the next turn of the event loop, and a
 * heap that reaches its limit first gets a full (non-incremental) GC there, as before. A hard
 * trigger (`--incremental-marking-hard-trigger=90`) would bring the immediate start back above
 * 90%; paired 64 KiB runs with and without it were within noise, so it is not set.
 */
export const MARKING_TRIGGER_FLAG = '--incremental-marking-soft-trigger=70';

/**
 * What `run` sets at start, each unless node's command line names it (the user's value wins; Node
 * refuses these V8 flags in NODE_OPTIONS, so that check only matters for the ones it allows).
 */
export const RUN_V8_FLAGS: readonly string[] = [HEAP_GROWING_FLAG, MARKING_TRIGGER_FLAG, WASM_TIERING_FLAG];

let applied = false;

/** Applies the RUN_V8_FLAGS the user did not set, once per process. */
export function tuneV8(): void {
  if (applied) return;
  applied = true;
  for (const flag of missingNodeFlags(RUN_V8_FLAGS, process.execArgv, process.env.NODE_OPTIONS)) setFlagsFromString(flag);
}

/*
 * No forced collection at start or after quiet spells: a first version ran V8's last-resort GC
 * once serving (idle RSS −10 MiB) and again after 0.5 s of quiet. Paired wrk runs through the
 * proxy (docs/design.md "Idle and per-certificate memory") showed the server it had run in still
 * costing ~10% more CPU per request after 100 s of load, and ~2x the p99 with the 0.5 s rule: the
 * collection drops the JIT's feedback and shrinks the young generation. Speed per request won.
 */
