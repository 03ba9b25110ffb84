import type { GlobalOptions } from '../config/types.ts';
import { GLOBAL_DEFAULTS } from '../config/defaults.ts';
import { isLogLevel, type Logger } from '../log.ts';
import { storageEnvNotice } from './setup.ts';

/** One environment variable that changes what the Proxyfile says, for a warning at start. */
export interface EnvOverride {
  /** The variable's name (never its value when that could be a secret). */
  readonly env: string;
  /** The Proxyfile setting it concerns, as written there. */
  readonly setting: string;
  readonly message: string;
}

/**
 * Every environment variable of my-server that changes or is outranked by a Proxyfile setting, said
 * once at start (setup.ts loggerFor), so that a setting that seems to be ignored has a visible
 * reason. The variables (SPEC "Environment"):
 *
 * - MY_SERVER_STORAGE: the default storage folder; a `storage` option outranks it (setup.ts).
 * - MY_SERVER_LOG_LEVEL: outranks every `log` level (log.ts); a value that is not a level is ignored.
 * - MY_SERVER_CONFIG: which file is read; `--config` outranks it. It sets no Proxyfile setting.
 *
 * Messages carry a variable's value only when it cannot be a secret (a level, a folder); a Redis
 * URL is named by its server only.
 */
export function envOverrides(globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env): EnvOverride[] {
  const out: EnvOverride[] = [];
  const storage = storageEnvNotice(globals, env);
  if (storage !== undefined) out.push({ env: 'MY_SERVER_STORAGE', setting: 'storage', message: storage });
  const level = env['MY_SERVER_LOG_LEVEL'];
  if (level !== undefined && level !== '') {
    if (!isLogLevel(level)) {
      out.push({ env: 'MY_SERVER_LOG_LEVEL', setting: 'log level', message: `MY_SERVER_LOG_LEVEL=${level} is not a log level (fatal, error, warn, info, debug, trace, silent) and is ignored` });
    } else {
      // A level left at its default is no setting of the Proxyfile's; `debug` sets the default log's.
      const explicit = (l: string): boolean => l !== GLOBAL_DEFAULTS.logLevel;
      const outranked = [
        ...(explicit(globals.log.level) && globals.log.level !== level ? [`log { level ${globals.log.level} }`] : []),
        ...(globals.loggers ?? []).filter((l) => explicit(l.level) && l.level !== level).map((l) => `log ${l.name} { level ${l.level} }`),
      ];
      if (outranked.length > 0) {
        out.push({
          env: 'MY_SERVER_LOG_LEVEL',
          setting: 'log level',
          message: `MY_SERVER_LOG_LEVEL=${level} overrides the Proxyfile's ${outranked.join(', ')} (unset MY_SERVER_LOG_LEVEL to use the Proxyfile's)`,
        });
      }
    }
  }
  return out;
}

/**
 * Logs each override as a warning. A MY_SERVER_LOG_LEVEL above warn would drop the very warning
 * that explains it, so then the line goes to stderr as plain text instead.
 */
export function warnEnvOverrides(log: Logger, globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env): void {
  for (const o of envOverrides(globals, env)) {
    if (log.isLevelEnabled('warn')) log.warn({ env: o.env, setting: o.setting }, o.message);
    else process.stderr.write(`my-server: warning: ${o.message}\n`);
  }
}
