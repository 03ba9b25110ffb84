import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

export type { Logger };

export interface LogOptions {
  /** 'stdout' | 'stderr' | a file path. */
  readonly output?: string;
  /** json always, console for humans; default console on a TTY, else json. */
  readonly format?: 'json' | 'console';
  readonly level?: LevelWithSilent;
}

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function isLogLevel(value: string): value is LevelWithSilent {
  return LEVELS.includes(value);
}

/**
 * The process logger. Modules take a child: `log.child({ logger: 'acme' })`, so every line names
 * its source. MY_SERVER_LOG_LEVEL overrides the configured level.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const envLevel = process.env['MY_SERVER_LOG_LEVEL'];
  const level = envLevel !== undefined && isLogLevel(envLevel) ? envLevel : (options.level ?? 'info');
  const output = options.output ?? 'stderr';
  const fd = output === 'stdout' ? 1 : output === 'stderr' ? 2 : undefined;
  const tty = fd !== undefined && (fd === 1 ? process.stdout.isTTY : process.stderr.isTTY);
  const format = options.format ?? (tty ? 'console' : 'json');
  const dest: DestinationStream =
    format === 'console'
      ? consoleStream(fd ?? 2)
      : pino.destination(fd !== undefined ? { fd, sync: true } : { dest: output, mkdir: true, sync: false });
  // Every line names its logger: children bind `logger` themselves (log.child({ logger: 'acme' }));
  // lines from the root get "my-server". A base binding would be repeated by pino next to the
  // child's, giving JSON with the key twice, so the root's name comes from a mixin instead.
  const named = new WeakMap<object, boolean>();
  return pino(
    {
      level,
      base: undefined,
      mixin: (_obj, _level, lg) => {
        let has = named.get(lg);
        if (has === undefined) named.set(lg, (has = 'logger' in lg.bindings()));
        return has ? {} : { logger: 'my-server' };
      },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
}

/** A readable one-line format for terminals: "13:04:51 INFO  acme  message key=value". */
function consoleStream(fd: number): DestinationStream {
  const out = fd === 1 ? process.stdout : process.stderr;
  return {
    write(line: string): void {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const { time, level, logger, msg, ...rest } = rec;
      const t = typeof time === 'string' ? time.slice(11, 19) : '';
      const extras = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(`${t} ${String(level).toUpperCase().padEnd(5)} ${String(logger)}  ${String(msg ?? '')}${extras ? '  ' + extras : ''}\n`);
    },
  };
}

/** A logger that drops everything, for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
