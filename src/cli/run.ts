import { App } from '../app.ts';
import { formatIssue, loadConfig } from '../config/index.ts';
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
  for (const w of config.warnings ?? []) log.warn({ file: w.file, line: w.line, col: w.col }, formatIssue(w));
  // The app owns the one config source: --watch, SIGHUP and the admin API feed its reload queue.
  const app = new App(config, { log, configFile: file, watch: values['watch'] === true, userAgent: `my-server/${packageVersion()}` });
  await app.start();
  process.on('SIGHUP', () => void app.requestReload('SIGHUP'));
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn({ signal }, 'second stop signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      const g = app.config.globals;
      log.info({ signal, graceMs: g.gracePeriodMs, ...(g.shutdownDelayMs ? { shutdownDelayMs: g.shutdownDelayMs } : {}) }, 'stopping');
      // A last resort: whatever still holds the process 10 s after the shutdown delay and the grace period is cut off.
      setTimeout(() => {
        log.error('still running 10 s after the grace period: exiting');
        process.exit(1);
      }, (g.shutdownDelayMs ?? 0) + g.gracePeriodMs + 10_000).unref();
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
