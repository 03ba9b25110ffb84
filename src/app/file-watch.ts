import path from 'node:path';
import { watchConfig, type ConfigWatcher } from '../config/watch.ts';
import type { Config } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { watchedFiles } from './plan.ts';

export interface FileWatchOptions {
  /** The Proxyfile: watched with its imports when `watchConfig` is on. */
  readonly configFile?: string;
  /** `run --watch`. */
  readonly watchConfig: boolean;
  readonly log: Logger;
  /** The Proxyfile or a file it imports changed. */
  readonly onConfigChange: () => void;
  /** Only `tls CERT KEY` files changed (SPEC: reloaded when the files change, whatever --watch says). */
  readonly onCertificateChange: () => void;
}

/**
 * The one file watcher of a running config: the Proxyfile and its imports (with --watch) and the
 * user's certificate files, in one chokidar watcher. Replaced when the set of files changes, and
 * only once its successor is ready, so no save is missed in between.
 */
export class FileWatch {
  readonly #o: FileWatchOptions;
  #watcher: ConfigWatcher | undefined;
  #closed = false;

  constructor(options: FileWatchOptions) {
    this.#o = options;
  }

  /** Watch the files of `config` (plan.ts says when they changed); resolves once watching. */
  async update(config: Config): Promise<void> {
    if (this.#closed) return;
    const files = watchedFiles(config);
    const configFiles = this.#o.watchConfig && this.#o.configFile !== undefined ? [this.#o.configFile, ...files.config] : [];
    const all = [...configFiles, ...files.certificates];
    const [first, ...rest] = all;
    const previous = this.#watcher;
    this.#watcher = undefined;
    if (first !== undefined) {
      const isConfig = new Set(configFiles.map((f) => path.resolve(f)));
      const next = watchConfig(first, rest, (changed) => {
        if ([...changed].some((f) => isConfig.has(f))) this.#o.onConfigChange();
        else this.#o.onCertificateChange();
      });
      await next.ready;
      if (this.#closed) {
        await Promise.all([next.close(), previous?.close()]);
        return;
      }
      this.#watcher = next;
      // Other tests and scripts wait for this line instead of sleeping: keep its message.
      if (configFiles.length > 0) this.#o.log.info({ files: [...new Set(configFiles)] }, 'watching config for changes');
    }
    await previous?.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#watcher?.close();
    this.#watcher = undefined;
  }
}
