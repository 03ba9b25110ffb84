import { App } from '../app.ts';
import { loadConfig, watchConfig, type ConfigWatcher } from '../config/index.ts';
import { describeError } from '../errors.ts';
import { loggerFor } from '../app/setup.ts';
import { configPath, parse } from './usage.ts';
import { packageVersion } from './version.ts';

const HELP = `Usage: my-server run [--config FILE] [--watch]

Serves in the foreground. FILE defaults to ./Proxyfile (or $MY_SERVER_CONFIG).
  --watch   reload when FILE, or a file it imports, changes
Signals: SIGHUP reloads FILE; SIGTERM and SIGINT stop gracefully (in-flight requests get
grace_period to finish), then the process exits 0.
`;


export async function runCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, watch: { type: 'boolean' } }, false);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = configPath(values);
  const config = await loadConfig(file);
  const log = loggerFor(config.globals);
  const app = new App(config, { log, configFile: file, userAgent: `my-server/${packageVersion()}` });

  // Reloads run one after another; a change seen while one runs is applied after it.
  let reloading: Promise<void> = Promise.resolve();
  const reload = (why: string): Promise<void> => {
    reloading = reloading.then(async () => {
      log.info({ file, trigger: why }, 'reloading config');
      try {
        await app.reloadFromFile();
      } catch (err) {
        // The old config keeps serving (SPEC: reload).
        log.error({ err: describeError(err) }, `reload rejected, keeping the running config: ${describeError(err)}`);
      }
      if (watcher) await rewatch();
    });
    return reloading;
  };

  // One watcher for the life of the process, replaced only when the set of imported files changes,
  // and only once its successor is ready, so no save is missed in between.
  let watcher: ConfigWatcher | undefined;
  let watchedFiles = '';
  const rewatch = async (): Promise<void> => {
    const files = [...app.config.files].sort().join('\n');
    if (watcher && files === watchedFiles) return;
    const next = watchConfig(file, app.config.files, () => void reload('watch'));
    await next.ready;
    const old = watcher;
    watcher = next;
    watchedFiles = files;
    await old?.close();
  };
  await app.start();
  if (values['watch']) await rewatch();
  process.on('SIGHUP', () => void reload('SIGHUP'));
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn({ signal }, 'second stop signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal, graceMs: app.config.globals.gracePeriodMs }, 'stopping');
      // A last resort: whatever still holds the process 10 s after the grace period is cut off.
      setTimeout(() => {
        log.error('still running 10 s after the grace period: exiting');
        process.exit(1);
      }, app.config.globals.gracePeriodMs + 10_000).unref();
      void watcher?.close();
      app.close().then(resolve, (err: unknown) => {
        log.error({ err }, 'error while stopping');
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  log.info('stopped');
  return 0;
}
