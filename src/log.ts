import { closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, extname, join, sep } from 'node:path';
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';
import { createStream } from 'rotating-file-stream';
import type { LogConfig, LogFormat, LogRoll } from './config/types.ts';
import { ROLL_DEFAULTS } from './config/directives/log.ts';
import { MyServerError } from './errors.ts';
import { consoleLine, transformRecord, transforms, type LogRecord } from './log-format.ts';

export type { Logger };

export interface LogOptions {
  /** 'stdout' | 'stderr' | 'discard' | a file path. */
  readonly output?: string;
  /** For a file: how it rolls; absent: Caddy's defaults (ROLL_DEFAULTS). */
  readonly roll?: LogRoll;
  /** For a file: the mode it is created with; absent: 0600, as Caddy. */
  readonly mode?: number;
  /** json, console, or Caddy's filter/append encoders; default console on a TTY, else json. */
  readonly format?: LogFormat;
  readonly level?: LevelWithSilent;
  /** Logger-name namespaces (the `logger` field) this output takes or leaves; absent: all. */
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  /** Further outputs (the `log NAME` global options): every line goes to each one that accepts it. */
  readonly loggers?: readonly LogOptions[];
}

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const LEVEL_VALUES: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

export function isLogLevel(value: string): value is LevelWithSilent {
  return LEVELS.includes(value);
}

/** The options of a `log` config (global option or a site's own), for createLogger. */
export function logOptionsOf(c: LogConfig): LogOptions {
  const o = c.output;
  return {
    output: o.kind === 'file' ? o.path : o.kind,
    ...(o.kind === 'file' && o.roll !== undefined ? { roll: o.roll } : {}),
    ...(o.kind === 'file' && o.mode !== undefined ? { mode: o.mode } : {}),
    level: c.level,
    ...(c.format !== undefined ? { format: c.format } : {}),
    ...(c.include !== undefined ? { include: c.include } : {}),
    ...(c.exclude !== undefined ? { exclude: c.exclude } : {}),
  };
}

/** This process's worker id (cluster/worker.ts), on every line of every logger; unset outside `workers N`. */
let logWorker: number | undefined;

export function setLogWorker(id: number): void {
  logWorker = id;
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
        const own = has ? {} : { logger: 'my-server' };
        return logWorker === undefined ? own : { ...own, worker: logWorker };
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
 * switching the stream every line goes through; the old files are flushed and closed. Loggers made
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
  void closeDestination(old);
}

/** Flushes and closes the files of a logger made by createLogger; later lines are dropped. */
export function closeLogger(logger: Logger): Promise<void> {
  const state = switchable.get(logger);
  if (!state) return Promise.resolve();
  switchable.delete(logger);
  return closeDestination(state.dest.swap({ write: () => undefined }));
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

type Closable = DestinationStream & { flushSync?: () => void; end?: () => void; fd?: number; close?: () => Promise<void> };

/** Closes what `old` opened (stdout and stderr are the process's, never closed); resolves once the files are. */
function closeDestination(old: DestinationStream): Promise<void> {
  const closable = old as Closable & Partial<NodeJS.EventEmitter>;
  if (closable.fd === 1 || closable.fd === 2) return Promise.resolve();
  if (typeof closable.close === 'function') return closable.close();
  if (typeof closable.end !== 'function') return Promise.resolve();
  const closed = new Promise<void>((resolve) => {
    if (typeof closable.once !== 'function') return resolve();
    closable.once('close', () => resolve());
    closable.once('error', () => resolve());
  });
  try {
    closable.flushSync?.();
  } catch {
    // An async file destination that has not opened yet cannot flush; end() still writes what it holds.
  }
  closable.end();
  return closed;
}

/** The pino level: the lowest any output takes (each output drops what is below its own). */
function levelFor(options: LogOptions): LevelWithSilent {
  const env = envLevel();
  if (env !== undefined) return env;
  const all = [options, ...(options.loggers ?? [])].map((o) => o.level ?? 'info');
  return all.reduce((a, b) => ((LEVEL_VALUES[b] as number) < (LEVEL_VALUES[a] as number) ? b : a));
}

function envLevel(): LevelWithSilent | undefined {
  const env = process.env['MY_SERVER_LOG_LEVEL'];
  return env !== undefined && isLogLevel(env) ? env : undefined;
}

function destinationKey(options: LogOptions): string {
  return JSON.stringify(options);
}

/**
 * Throws MS_ERR_CONFIG naming the file when a `log` file output cannot be opened for appending
 * (its folder is created as the logger would). Called before a logger or a reload commits to it:
 * the file itself is opened asynchronously, too late to reject anything.
 */
export function checkLogOutput(options: LogOptions): void {
  for (const o of [options, ...(options.loggers ?? [])]) {
    const output = o.output ?? 'stderr';
    if (output === 'stdout' || output === 'stderr' || output === 'discard') continue;
    try {
      makeDirectories(dirname(output));
      closeSync(openSync(output, 'a', o.mode ?? 0o600));
    } catch (err) {
      throw new MyServerError('MS_ERR_CONFIG', `log output file ${output}`, { cause: err });
    }
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

/** One output of a logger: where lines go, which it takes, and how it encodes them. */
interface Sink {
  readonly out: Closable;
  readonly level: number;
  readonly format: LogFormat | undefined;
  /** The encoder when `format` (or its innermost wrap) names none. */
  readonly fallback: 'json' | 'console';
  /** Console lines in colour: the output is a terminal and NO_COLOR (no-color.org) is not set. */
  readonly colour: boolean;
  readonly accepts: (name: string) => boolean;
}

/**
 * The stream for `options`. One output that takes every line as pino writes it is that output's
 * stream itself; otherwise each line is parsed once and handed to every output that accepts its
 * logger name and level, encoded by that output's format.
 */
function destinationFor(options: LogOptions): DestinationStream {
  const env = envLevel();
  // As Caddy's adapter: what a named logger includes, the default one leaves out.
  const included = (options.loggers ?? []).flatMap((l) => l.include ?? []);
  const main = included.length === 0 ? options : { ...options, exclude: [...(options.exclude ?? []), ...included] };
  const sinks = [main, ...(options.loggers ?? [])].map((o): Sink => {
    const output = o.output ?? 'stderr';
    const fd = output === 'stdout' ? 1 : output === 'stderr' ? 2 : undefined;
    const tty = fd !== undefined && (fd === 1 ? process.stdout.isTTY : process.stderr.isTTY);
    return {
      out: outputStream(o),
      level: LEVEL_VALUES[env ?? o.level ?? 'info'] as number,
      format: o.format,
      fallback: tty ? 'console' : 'json',
      colour: tty && (process.env['NO_COLOR'] ?? '') === '',
      accepts: loggerFilter(o.include ?? [], o.exclude ?? []),
    };
  });
  const [only] = sinks;
  if (sinks.length === 1 && only && (main.include ?? []).length === 0 && (main.exclude ?? []).length === 0 && (main.format ?? only.fallback) === 'json') {
    return only.out;
  }
  return new Router(sinks);
}

class Router implements DestinationStream {
  readonly #sinks: readonly Sink[];
  constructor(sinks: readonly Sink[]) {
    this.#sinks = sinks;
  }
  write(line: string): void {
    let rec: LogRecord;
    try {
      rec = JSON.parse(line) as LogRecord;
    } catch {
      for (const s of this.#sinks) s.out.write(line);
      return;
    }
    const name = typeof rec['logger'] === 'string' ? rec['logger'] : '';
    const level = LEVEL_VALUES[String(rec['level'])] ?? 30;
    const wanted = this.#sinks.filter((s) => level >= s.level && s.accepts(name));
    for (const s of wanted) {
      // Filters change the entry: each output that has them gets its own copy.
      const r = wanted.length > 1 && transforms(s.format) ? (structuredClone(rec) as LogRecord) : rec;
      const encoder = transformRecord(r, s.format) ?? s.fallback;
      s.out.write(encoder === 'console' ? consoleLine(r, { colour: s.colour }) : `${JSON.stringify(r)}\n`);
    }
  }
  async close(): Promise<void> {
    await Promise.all(this.#sinks.map((s) => closeDestination(s.out)));
  }
}

/**
 * Caddy's include/exclude on logger names (CustomLog.loggerAllowed): a namespace covers itself
 * and the names under it (`http.log.access` covers `http.log.access.log0`); the longest matching
 * namespace decides; with an include list, a name it does not cover is refused.
 */
export function loggerFilter(include: readonly string[], exclude: readonly string[]): (name: string) => boolean {
  if (include.length === 0 && exclude.length === 0) return () => true;
  return (logger) => {
    const name = `${logger}.`;
    const longest = (list: readonly string[]): number =>
      list.reduce((best, ns) => (ns === '*' || name.startsWith(`${ns}.`) ? Math.max(best, ns === '*' ? 0.5 : ns.length) : best), 0);
    const accept = longest(include);
    if (include.length > 0 && accept === 0) return false;
    const reject = longest(exclude);
    return accept > reject || (include.length === 0 && reject === 0);
  };
}

/** The stream one output writes encoded lines to. */
function outputStream(o: LogOptions): Closable {
  const output = o.output ?? 'stderr';
  if (output === 'discard') return { write: () => undefined };
  const fd = output === 'stdout' ? 1 : output === 'stderr' ? 2 : undefined;
  const roll = o.roll ?? ROLL_DEFAULTS;
  const dest: Closable & NodeJS.EventEmitter =
    fd !== undefined
      ? pino.destination({ fd, sync: true })
      : roll.enabled
        ? rollingFile(output, roll, o.mode ?? 0o600)
        : pino.destination({ dest: output, mkdir: true, sync: false, mode: o.mode ?? 0o600 });
  // A destination's errors (a full disk, a file removed with its folder) would be an uncaught
  // exception with no listener. Logging is not worth the process: say it once.
  let reported = false;
  dest.on('error', (err: Error) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`my-server: writing the log to ${output} failed: ${err.message}\n`);
  });
  return dest;
}

/**
 * A log file rolled as Caddy's lumberjack rolls it: at `sizeBytes`, the file is renamed
 * NAME-<UTC or local time>.EXT (gzip-compressed to .gz unless `compress` is off); at most `keep`
 * rolled files are kept (rotating-file-stream's history file, .NAME.rolled, counts them), and none
 * older than `keepDays`.
 */
function rollingFile(path: string, roll: LogRoll, mode: number): Closable & NodeJS.EventEmitter {
  const dir = dirname(path);
  const ext = extname(path);
  const stem = basename(path, ext);
  const base = basename(path);
  const stamp = (t: Date): string => {
    const d = roll.localTime ? new Date(t.getTime() - t.getTimezoneOffset() * 60_000) : t;
    return d.toISOString().slice(0, 23).replaceAll(':', '-');
  };
  const stream = createStream(
    (time: number | Date | null, index?: number) => {
      if (time === null) return base;
      const t = typeof time === 'number' ? new Date(time) : time;
      const n = index !== undefined && index > 1 ? `-${index}` : '';
      return `${stem}-${stamp(t)}${n}${ext}${roll.compress ? '.gz' : ''}`;
    },
    {
      path: dir + sep,
      size: `${roll.sizeBytes}B`,
      maxFiles: roll.keep,
      history: `.${base}.rolled`,
      mode,
      ...(roll.compress ? { compress: 'gzip' as const } : {}),
    },
  );
  const rolled = new RegExp(`^${escapeRe(stem)}-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.\\d{3}(-\\d+)?${escapeRe(ext)}(\\.gz)?$`);
  stream.on('rotated', () => {
    const oldest = Date.now() - roll.keepDays * 86_400_000;
    try {
      for (const f of readdirSync(dir)) {
        if (!rolled.test(f)) continue;
        const file = join(dir, f);
        if (statSync(file).mtimeMs < oldest) unlinkSync(file);
      }
    } catch {
      // Age-based cleanup is best effort; the count limit still holds.
    }
  });
  // Warnings are cleanup failures of old files; the log itself goes on.
  stream.on('warning', () => undefined);
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (stream.destroyed || stream.writableFinished) return resolve();
      stream.once('error', () => resolve());
      stream.end(() => resolve());
    });
  return Object.assign(stream, { close }) as unknown as Closable & NodeJS.EventEmitter;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A logger that drops everything, for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
