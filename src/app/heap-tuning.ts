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

export const HEAP_GROWING_FLAG = '--heap-growing-percent=100';

/** True when node's arguments or NODE_OPTIONS already set the flag: the user's value wins. */
export function heapGrowthGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a));
}

let applied = false;

/** Applies HEAP_GROWING_FLAG once per process unless the user chose a value. */
export function tuneHeapGrowth(): void {
  if (applied) return;
  applied = true;
  if (!heapGrowthGiven(process.execArgv, process.env.NODE_OPTIONS)) setFlagsFromString(HEAP_GROWING_FLAG);
}

/*
 * No forced collection at start or after quiet spells: a first version ran V8's last-resort GC
 * once serving (idle RSS −10 MiB) and again after 0.5 s of quiet. Paired wrk runs through the
 * proxy (docs/design.md "Idle and per-certificate memory") showed the server it had run in still
 * costing ~10% more CPU per request after 100 s of load, and ~2x the p99 with the 0.5 s rule: the
 * collection drops the JIT's feedback and shrinks the young generation. Speed per request won.
 */
