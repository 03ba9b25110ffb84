import { loadConfig } from '../config/index.ts';
import type { Config } from '../config/types.ts';
import { describeError, MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { FileWatch } from './file-watch.ts';

export interface ConfigSourceOptions {
  /** The Proxyfile, read again for admin /reload, SIGHUP and --watch. */
  readonly file?: string;
  /** `run --watch`. */
  readonly watch: boolean;
  readonly log: Logger;
  /** Builds and swaps in a config (App); never called while another call runs. */
  readonly apply: (next: Config) => Promise<void>;
  /** The running config, built again when only certificate files changed. */
  readonly current: () => Config;
}

/**
 * The one source of config changes of a running server: the start, reload(config) (admin /load),
 * the config file (admin /reload, SIGHUP, --watch) and the user's certificate files. Changes run
 * one at a time in arrival order, and the file is read when its turn comes, so the last save seen
 * is the one applied last.
 */
export class ConfigSource {
  readonly #o: ConfigSourceOptions;
  readonly #files: FileWatch;
  /** Tail of the queue. */
  #queue: Promise<void> = Promise.resolve();
  #closing = false;

  constructor(options: ConfigSourceOptions) {
    this.#o = options;
    this.#files = new FileWatch({
      watchConfig: options.watch,
      ...(options.file !== undefined ? { configFile: options.file } : {}),
      log: options.log,
      onConfigChange: () => void this.request('watch'),
      onCertificateChange: () => void this.request('certificate files'),
    });
  }

  /** Applies the config `next` gives once every change queued before it is done; rejects as apply does. */
  push(next: () => Config | Promise<Config>): Promise<void> {
    if (this.#closing) return Promise.reject(new MyServerError('MS_ERR_ABORTED', 'the server is stopping; config not loaded'));
    const run = this.#queue.then(async () => this.#o.apply(await next()));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Reads the config file again and applies it. */
  fromFile(): Promise<void> {
    const file = this.#o.file;
    if (file === undefined) return Promise.reject(new MyServerError('MS_ERR_CONFIG', 'no config file to reload from'));
    return this.push(() => loadConfig(file));
  }

  /**
   * A reload asked for by a signal or a watched file: logged, never rejects; the old config keeps
   * serving when the new one is rejected (SPEC). `certificate files` rebuilds the running config.
   */
  async request(trigger: string): Promise<void> {
    if (this.#closing) return;
    this.#o.log.info({ file: this.#o.file, trigger }, 'reloading config');
    try {
      await (trigger === 'certificate files' ? this.push(() => this.#o.current()) : this.fromFile());
    } catch (err) {
      this.#o.log.error({ err: describeError(err) }, `reload rejected, keeping the running config: ${describeError(err)}`);
    }
  }

  /** Watches the files of `config`, the one just applied; resolves once watching. */
  watch(config: Config): Promise<void> {
    return this.#files.update(config);
  }

  /** Takes no more changes; resolves once the one running is done and the watcher is closed. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#queue;
    await this.#files.close();
  }
}
