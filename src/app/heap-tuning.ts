/**
 * How fast V8 lets the old generation grow between full collections, for a process that serves
 * (issue 12: peak RSS under load).
 *
 * Under the proxy benchmark's loads (64 keep-alive HTTPS connections, HTTP/2, handshakes) request
 * objects outlive the 8 MiB semi-spaces and are promoted, and V8's default growing factor (chosen
 * per GC between 1.1 and 4 from its own speed estimates) let the old generation reach 42–67 MiB
 * committed around 15 MiB live: peak VmHWM ~190 MiB against ~93 MiB idle. A fixed 1.3 keeps it
 * at ~135 MiB with requests per CPU-second within the machine's noise (paired runs in
 * docs/design.md "Idle and per-certificate memory"). `--memory-saver-mode` and
 * `--optimize-for-size` gave a similar peak but cost 25–45% of throughput.
 *
 * Unlike the semi-space size (cli/node-flags.ts), V8 reads this flag at every full GC, so setting
 * it at run time works and needs no re-exec.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const HEAP_GROWING_FLAG = '--heap-growing-percent=30';

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

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Returns start-up's garbage to the operating system, once the server is serving.
 *
 * Loading the config and compiling ~700 modules promotes enough to make V8 grow the young
 * generation to its 2 × 8 MiB, and it keeps those pages: at idle 9.4 MiB of the new space was
 * resident with nothing live in it, and a regular full GC (V8's own, or `gc()`) does not give the
 * pages back. V8's last-resort collection (what it runs before an out-of-memory) shrinks the new
 * space and releases pooled pages: idle VmRSS 91 → 80 MiB, ~20 ms once. A serving process then
 * grows the young generation again under load, which is what it is for.
 *
 * The only door to that collection is the `gc` extension: exposed for one new context, then the
 * flag is turned off again so no other code (or `vm` sandbox) sees a `gc` global.
 */
export function releaseStartupMemory(): void {
  // Started with --expose-gc: use it and leave the flag as the user set it.
  let gc = (globalThis as { gc?: GcFunction }).gc;
  if (gc === undefined) gc = exposedGc();
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

function exposedGc(): GcFunction | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as GcFunction;
  } catch {
    return undefined; // a Node without the extension: memory stays as V8 left it
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** How the quiet-time release decides (tests shorten the times). */
export interface QuietReleaseOptions {
  /** How often to look. */
  readonly intervalMs?: number;
  /** Event-loop utilization below which the last interval counts as quiet. */
  readonly quietBelow?: number;
  /** Growth of V8's resident heap since the last release that is worth a collection. */
  readonly growthBytes?: number;
  /** Least time between two releases. */
  readonly minGapMs?: number;
}

/**
 * Gives back what a burst of work grew, once the server goes quiet: the same last-resort GC as at
 * start, when the event loop was idle (utilization < 5%) over the last half second and V8's
 * resident heap grew by 4 MiB or more since the previous release, at most every 2 s.
 *
 * Why: after a burst (1,000 on-demand certificates loaded, a load test, an HTTP/2 abuse) V8 keeps
 * the young generation it grew and the old-space pages the promoted garbage filled; its own memory
 * reducer runs regular full GCs, which do not return those pages. Measured on the certificate
 * benchmark's load: RSS grew ~19 KiB per handshake to one and the same name, all of it V8 heap
 * that a GC would free but V8 kept committed. Under load the loop is busy and nothing runs; a
 * release costs one synchronous full GC (tens of ms with ~15 MiB live), so at most ~2.5% of a
 * quiet server's time in the worst case, none under load.
 */
export class QuietRelease {
  readonly #timer: NodeJS.Timeout;
  readonly #quietBelow: number;
  readonly #growthBytes: number;
  readonly #minGapMs: number;
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  #baseline = getHeapStatistics().total_physical_size;
  #lastAt = 0;
  /** Releases so far (tests). */
  releases = 0;

  constructor(o: QuietReleaseOptions = {}) {
    this.#quietBelow = o.quietBelow ?? 0.05;
    this.#growthBytes = o.growthBytes ?? 4 * 1024 * 1024;
    this.#minGapMs = o.minGapMs ?? 2_000;
    this.#timer = setInterval(() => this.#check(), o.intervalMs ?? 500);
    this.#timer.unref();
  }

  #check(): void {
    const now = performance.eventLoopUtilization();
    const quiet = performance.eventLoopUtilization(now, this.#elu).utilization < this.#quietBelow;
    this.#elu = now;
    if (!quiet || performance.now() - this.#lastAt < this.#minGapMs) return;
    if (getHeapStatistics().total_physical_size - this.#baseline < this.#growthBytes) return;
    releaseStartupMemory();
    this.releases++;
    this.#lastAt = performance.now();
    this.#baseline = getHeapStatistics().total_physical_size;
    // The collection itself is not the server's work: the next interval starts after it.
    this.#elu = performance.eventLoopUtilization();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

let startupReleased = false;
let shared: { release: QuietRelease; users: number } | undefined;

/**
 * What a serving App calls once it serves: the start-up release once per process (start-up garbage
 * is the process's, and a process may start several Apps: tests, a reload's replacement), and one
 * QuietRelease shared by every App in the process, stopped when the last one lets go.
 */
export function holdMemoryRelease(): () => void {
  if (!startupReleased) {
    startupReleased = true;
    releaseStartupMemory();
  }
  shared ??= { release: new QuietRelease(), users: 0 };
  shared.users++;
  let held = true;
  return () => {
    if (!held || shared === undefined) return;
    held = false;
    if (--shared.users === 0) {
      shared.release.stop();
      shared = undefined;
    }
  };
}

/** Apps holding the shared QuietRelease now (tests). */
export function memoryReleaseHolders(): number {
  return shared?.users ?? 0;
}
