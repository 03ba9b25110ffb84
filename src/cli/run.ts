import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { App as AppType } from '../app.ts';
import { formatIssue, loadConfig } from '../config/index.ts';
import { loggerFor } from '../app/setup.ts';
import { Primary, sharedLogFiles, workerCount } from '../cluster/primary.ts';
import { WORKER_ID_ENV } from '../cluster/protocol.ts';
import { WorkerLink, workerSlot } from '../cluster/worker.ts';
import { setLogWorker } from '../log.ts';
import { configPath, parse } from './usage.ts';
import { packageVersion } from './version.ts';

const HELP = `Usage: my-server run [--config FILE] [--watch]

Serves in the foreground. FILE defaults to ./Proxyfile (or $MY_SERVER_CONFIG).
  --watch   reload when FILE, or a file it imports, changes (with \`workers N\`: every worker
            at once, all or none, as SIGHUP does)
Signals: SIGHUP reloads FILE; SIGTERM and SIGINT stop gracefully (in-flight requests get
grace_period to finish), then the process exits 0. With \`workers N\`, send them to the first
process (the primary): it passes them on to every worker.
`;

export async function runCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, watch: { type: 'boolean' } }, false);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = configPath(values);
  // A worker of `workers N` (forked by the primary below) says hello before anything slow, so no
  // message from the primary is missed; its id is on every log line.
  const slot = workerSlot();
  if (slot !== undefined) setLogWorker(slot);
  let link: WorkerLink | undefined;
  try {
    const config = await loadConfig(file);
    const log = loggerFor(config.globals, { envWarnings: slot === undefined });
    link = slot !== undefined ? new WorkerLink(slot, log, file) : undefined;
    // The primary logs the config's warnings once; its workers do not repeat them.
    if (link === undefined) for (const w of config.warnings ?? []) log.warn({ file: w.file, line: w.line, col: w.col }, formatIssue(w));
    const count = workerCount(config.globals.workers, availableParallelism());
    if (link === undefined && count > 1 && cluster.isPrimary) {
      const g = config.globals;
      const shared = await sharedLogs(file);
      if (shared.length > 0) log.warn({ files: shared }, 'every worker writes and rolls these log files: name them with {$MY_SERVER_WORKER_ID:0} to give each worker its own (docs/clustering.md)');
      const watch = values['watch'] === true ? { watch: { file, files: config.files } } : {};
      return await new Primary({ count, log, stopMs: (g.shutdownDelayMs ?? 0) + g.gracePeriodMs, ...watch }).run();
    }
    // A worker never watches the config itself: its primary does, and reloads every worker at once.
    return await serve(config, file, log, values['watch'] === true && link === undefined, link);
  } finally {
    link?.close();
  }
}

/** The config read as workers 1 and 2 read it: the rolled log files both name. */
async function sharedLogs(file: string): Promise<string[]> {
  const as = (id: string): ReturnType<typeof loadConfig> => loadConfig(file, { env: { ...process.env, [WORKER_ID_ENV]: id } });
  try {
    return sharedLogFiles(await as('1'), await as('2'));
  } catch {
    // Read once already: a file changed in between is the workers' to report.
    return [];
  }
}

async function serve(config: Awaited<ReturnType<typeof loadConfig>>, file: string, log: ReturnType<typeof loggerFor>, watch: boolean, link: WorkerLink | undefined): Promise<number> {
  // Imported here, not at the top: the primary of `workers N` never runs an App and stays small.
  const { App } = await import('../app.ts');
  // The app owns the one config source: --watch, SIGHUP and the admin API feed its reload queue.
  const app: AppType = new App(config, {
    log,
    configFile: file,
    watch,
    userAgent: `my-server/${packageVersion()}`,
    ...(link !== undefined ? { follower: !link.leader, fanOut: (load: { readonly text?: string }) => link.fanOut(load) } : {}),
  });
  await app.start();
  // A worker's SIGHUP reloads every worker, through the primary.
  process.on('SIGHUP', () => (link ? link.reloadAll() : void app.requestReload('SIGHUP')));
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
    if (link) {
      // A terminal's Ctrl-C reaches the whole process group: the primary decides, and tells us.
      process.on('SIGINT', () => undefined);
      link.onStop(stop);
      link.attach(app);
    } else {
      process.on('SIGINT', () => stop('SIGINT'));
    }
  });
  log.info('stopped');
  return 0;
}
