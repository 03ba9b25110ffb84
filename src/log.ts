import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';
import { MyServerError } from './errors.ts';

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
 * its source. MY_SERVER_LOG_LEVEL overrides the configured level. reconfigureLogger() changes a
 * logger made here in place (a reload's new `log` options), children included.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const dest = new SwitchableDestination(destinationFor(options));
  // Every line names its logger: children bind `logger` themselves (log.child({ logger: 'acme' }));
  // lines from the root get "my-server". A base binding would be repeated by pino next to the
  // child's, giving JSON with the key twice, so the root's name comes from a mixin instead.
  const named = new WeakMap<object, boolean>();
  const logger = pino(
    {
      level: levelFor(options),
      base: null,
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
  switchable.set(logger, { dest, key: destinationKey(options) });
  return logger;
}

/**
 * Applies new options to a logger made by createLogger: the level at once (children inherit it
 * through pino's prototype chain unless they set their own), and a new output or format by
 * switching the stream every line goes through; the old file is flushed and closed. Loggers made
 * elsewhere are left alone.
 */
export function reconfigureLogger(logger: Logger, options: LogOptions): void {
  const state = switchable.get(logger);
  if (!state) return;
  logger.level = levelFor(options);
  const key = destinationKey(options);
  if (key === state.key) return;
  const old = state.dest.swap(destinationFor(options));
  state.key = key;
  const closable = old as DestinationStream & { flushSync?: () => void; end?: () => void; fd?: number };
  // stdout and stderr are the process's, never closed; a file destination is ours.
  if (closable.fd !== 1 && closable.fd !== 2 && typeof closable.end === 'function') {
    try {
      closable.flushSync?.();
    } catch {
      // An async file destination that has not opened yet cannot flush; end() still writes what it holds.
    }
    closable.end();
  }
}

const switchable = new WeakMap<Logger, { dest: SwitchableDestination; key: string }>();

/** The stream pino writes to; its target can be replaced while loggers hold on to it. */
class SwitchableDestination implements DestinationStream {
  #target: DestinationStream;
  constructor(target: DestinationStream) {
    this.#target = target;
  }
  write(line: string): void {
    this.#target.write(line);
  }
  swap(next: DestinationStream): DestinationStream {
    const old = this.#target;
    this.#target = next;
    return old;
  }
}

function levelFor(options: LogOptions): LevelWithSilent {
  const envLevel = process.env['MY_SERVER_LOG_LEVEL'];
  return envLevel !== undefined && isLogLevel(envLevel) ? envLevel : (options.level ?? 'info');
}

function destinationKey(options: LogOptions): string {
  return JSON.stringify([options.output ?? 'stderr', options.format ?? null]);
}

/**
 * Throws MS_ERR_CONFIG naming the file when a `log` file output cannot be opened for appending
 * (its folder is created as the logger would). Called before a logger or a reload commits to it:
 * the file itself is opened asynchronously, too late to reject anything.
 */
export function checkLogOutput(options: LogOptions): void {
  const output = options.output ?? 'stderr';
  if (output === 'stdout' || output === 'stderr') return;
  try {
    makeDirectories(dirname(output));
    closeSync(openSync(output, 'a'));
  } catch (err) {
    throw new MyServerError('MS_ERR_CONFIG', `log output file ${output}`, { cause: err });
  }
}

/**
 * mkdir -p, one level at a time from the deepest folder that exists. Node's own recursive mkdir
 * never returns for a path under /proc (mkdir there fails with ENOENT, which it retries), and a
 * config error must not hang a reload.
 */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) {
    if (dirname(d) === d) break;
    missing.unshift(d);
  }
  for (const d of missing) mkdirSync(d);
}

function destinationFor(options: LogOptions): DestinationStream {
  const output = options.output ?? 'stderr';
  const fd = output === 'stdout' ? 1 : output === 'stderr' ? 2 : undefined;
  const tty = fd !== undefined && (fd === 1 ? process.stdout.isTTY : process.stderr.isTTY);
  const format = options.format ?? (tty ? 'console' : 'json');
  if (format === 'console') return consoleStream(fd ?? 2);
  const dest = pino.destination(fd !== undefined ? { fd, sync: true } : { dest: output, mkdir: true, sync: false });
  // pino re-emits a destination's errors (a full disk, a file removed with its folder); with no
  // listener that would be an uncaught exception. Logging is not worth the process: say it once.
  let reported = false;
  dest.on('error', (err: Error) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`my-server: writing the log to ${output} failed: ${err.message}\n`);
  });
  return dest;
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
