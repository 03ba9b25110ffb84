import { readFile } from 'node:fs/promises';
import { OnDemandPolicy } from '../certs/on-demand.ts';
import type { Config, GlobalOptions } from '../config/types.ts';
import { MyServerError } from '../errors.ts';
import { checkLogOutput, createLogger, logOptionsOf, type Logger, type LogOptions } from '../log.ts';
import { defaultStoragePath, type StorageSpec } from '../storage/index.ts';
import { warnEnvOverrides } from './env-overrides.ts';

/**
 * What `run` and the `certs` commands build alike from the global options, so the two can never
 * disagree about where the storage is or which CA root to trust.
 */

/**
 * The storage the globals ask for. The Proxyfile's `storage` wins; a non-empty MY_SERVER_STORAGE (a
 * folder) only replaces the default folder, as XDG_DATA_HOME does for Caddy, so `storage redis` works
 * in the Docker image and the systemd unit, which set MY_SERVER_STORAGE. storageEnvNotice() says so
 * at start when both are set.
 */
export function storageSpecFor(globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env): StorageSpec {
  const s = globals.storage;
  if (s.kind === 'redis') {
    return {
      kind: 'redis',
      url: s.url,
      prefix: s.prefix,
      ...(s.lockLeaseMs !== undefined ? { lockTtlMs: s.lockLeaseMs } : {}),
      ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      ...(s.tlsServerCertsPath !== undefined ? { tlsCaFile: s.tlsServerCertsPath } : {}),
    };
  }
  const fromEnv = env['MY_SERVER_STORAGE'];
  return { kind: 'file', path: s.path ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : defaultStoragePath()) };
}

/** The warning for a MY_SERVER_STORAGE that the Proxyfile's `storage` outranks; undefined when none applies. */
export function storageEnvNotice(globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env['MY_SERVER_STORAGE'];
  if (fromEnv === undefined || fromEnv === '') return undefined;
  const s = globals.storage;
  if (s.kind === 'file' && (s.path === undefined || s.path === fromEnv)) return undefined;
  // A Redis URL may carry a password: name the server only.
  const named = s.kind === 'redis' ? `storage redis ${redisServer(s.url)}` : `storage file_system ${s.path ?? ''}`;
  return `MY_SERVER_STORAGE=${fromEnv} is ignored: the Proxyfile's "${named}" takes precedence (unset MY_SERVER_STORAGE to silence this)`;
}

function redisServer(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(URL)';
  }
}

/** The PEM of `acme_ca_root`, or undefined when it is not set. */
export async function readCaRoot(globals: GlobalOptions): Promise<string | undefined> {
  const file = globals.acmeCaRoot;
  if (file === undefined) return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new MyServerError('MS_ERR_CONFIG', `reading acme_ca_root ${file}`, { cause: err });
  }
}

/**
 * The process logger of the `log` global option. `envWarnings: false` for the workers of
 * `workers N`: they inherit the primary's environment, and the primary has said it once.
 */
export function loggerFor(globals: GlobalOptions, o: { readonly envWarnings?: boolean } = {}): Logger {
  const options = logOptionsFor(globals);
  checkLogOutput(options);
  const log = createLogger(options);
  // Here because run and the certs commands all start with this logger, before opening storage.
  if (o.envWarnings !== false) warnEnvOverrides(log, globals);
  return log;
}

/** The `log` global option as logger options (for createLogger and, on reload, reconfigureLogger). */
export function logOptionsFor(globals: GlobalOptions): LogOptions {
  return { ...logOptionsOf(globals.log), ...(globals.loggers !== undefined ? { loggers: globals.loggers.map(logOptionsOf) } : {}) };
}

/**
 * Every log file a config names (the global `log` and each site's access `log`) can be opened for
 * appending; throws MS_ERR_CONFIG naming the first that cannot. Loggers open their files
 * asynchronously, too late to reject a start or a reload.
 */
export function checkLogOutputs(config: Config): void {
  checkLogOutput(logOptionsFor(config.globals));
  for (const site of config.sites) {
    if (site.log !== undefined) checkLogOutput(logOptionsOf(site.log));
  }
}

/**
 * The permission check of on-demand issuance (`on_demand_tls`). Made once per value of the option
 * (plan.ts says when it changed), so a reload does not reset the rate limit's budget.
 */
export function onDemandPolicyFor(globals: GlobalOptions): { authorize(name: string): Promise<void> } {
  const o = globals.onDemandTls;
  // The config requires `ask` for on-demand sites; without it nothing is authorized.
  if (o?.ask === undefined) {
    return { authorize: (name) => Promise.reject(new MyServerError('MS_ERR_POLICY', `on-demand certificate for ${name} refused: no on_demand_tls ask`)) };
  }
  return new OnDemandPolicy({
    ask: o.ask,
    ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
    ...(o.burst !== undefined ? { burst: o.burst } : {}),
  });
}
