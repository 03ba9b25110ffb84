/**
 * Watches the Proxyfile and the files it imports, for `run --watch`. The only module of config/
 * with timers.
 *
 * Editors save atomically (write a temporary file, rename it over the original), which replaces
 * the watched inode; watching the file itself would then go deaf. So the watcher watches the
 * directories holding the files and filters events by path, and a burst of events (temp file
 * written, renamed, attributes changed) is debounced into one callback.
 */
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export interface WatchOptions {
  /** Quiet time after the last event before `onChange` runs. Default 300 ms. */
  readonly debounceMs?: number;
  /** Closes the watcher when aborted. */
  readonly signal?: AbortSignal;
  /** Watcher errors (e.g. a directory removed); default: ignored, the watcher keeps running. */
  readonly onError?: (err: unknown) => void;
}

export interface ConfigWatcher {
  /** Resolves once the initial scan is done (or the watcher closed); earlier changes may be missed. */
  readonly ready: Promise<void>;
  /** Stops watching and cancels a pending callback. Idempotent. */
  close(): Promise<void>;
  /** The paths the watcher tracks (its directories and the watched files in them): what it costs. */
  trackedPaths(): string[];
}

/**
 * Calls `onChange` (debounced) when `configPath` or any of `files` is written, replaced, created
 * or removed, with the resolved paths that changed during the burst. `files` is usually
 * Config.files; paths are compared after path.resolve.
 */
export function watchConfig(
  configPath: string,
  files: readonly string[],
  onChange: (changed: ReadonlySet<string>) => void,
  options: WatchOptions = {},
): ConfigWatcher {
  const debounceMs = options.debounceMs ?? 300;
  const watched = new Set([configPath, ...files].map((f) => path.resolve(f)));
  const dirs = [...new Set([...watched].map((f) => path.dirname(f)))];
  const dirSet = new Set(dirs);
  // Only the watched files and their directories: without this chokidar stats and watches every
  // other entry of those directories (a certificate folder of 2,000 files cost ~7 MiB and 2,000
  // inotify watches at start, issue 12). Temporary files of atomic saves need no event: the
  // rename onto the watched name is the one that counts.
  const ignored = (p: string): boolean => {
    const resolved = path.resolve(p);
    return !watched.has(resolved) && !dirSet.has(resolved);
  };
  const watcher: FSWatcher = watch(dirs, { ignoreInitial: true, depth: 0, atomic: true, ignored });
  let timer: NodeJS.Timeout | undefined;
  let changed = new Set<string>();
  let closed = false;

  const schedule = (file: string): void => {
    const resolved = path.resolve(file);
    if (closed || !watched.has(resolved)) return;
    changed.add(resolved);
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      const burst = changed;
      changed = new Set();
      if (!closed) onChange(burst);
    }, debounceMs);
  };
  watcher.on('add', schedule);
  watcher.on('change', schedule);
  watcher.on('unlink', schedule);
  watcher.on('error', (err) => options.onError?.(err));

  let markReady = (): void => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  watcher.once('ready', () => markReady());
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    markReady();
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await watcher.close();
  };
  const onAbort = (): void => {
    close().catch((err: unknown) => options.onError?.(err));
  };
  if (options.signal?.aborted === true) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const trackedPaths = (): string[] => Object.entries(watcher.getWatched()).flatMap(([dir, names]) => [dir, ...names.map((n) => path.join(dir, n))]);
  return { ready, close, trackedPaths };
}
