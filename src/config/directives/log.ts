/**
 * Logging configuration shared by the site `log` directive and the `log` global option, in Caddy's
 * syntax (caddyserver.com/docs/caddyfile/directives/log and /options#log):
 *
 *     log [NAME] {
 *         output stdout|stderr|discard|file PATH [{ mode; roll_disabled; roll_size; roll_uncompressed;
 *                                                  roll_local_time; roll_keep; roll_keep_for }]
 *         format json|console
 *         format filter { [wrap FORMAT]; [fields { FIELD FILTER … }]; FIELD FILTER … }
 *         format append { [wrap FORMAT]; [fields { FIELD VALUE }]; FIELD VALUE }
 *         level LEVEL
 *         include|exclude LOGGER…      (global option only)
 *     }
 *
 * FILTER is delete, hash, rename KEY, replace VALUE, ip_mask [V4 [V6]] [{ ipv4 N; ipv6 N }],
 * query|cookie { delete|hash NAME; replace NAME VALUE }, regexp PATTERN REPLACEMENT.
 * Everything is checked here, so a bad line is a FILE:LINE:COL error at validate, not at a request.
 */
import { configError, posOf } from '../errors.ts';
import type { AccessLogDraft, GlobalsDraft } from '../draft.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { LogAppendField, LogConfig, LogFieldFilter, LogFormat, LogLevel, LogOutput, LogRoll, LogValueAction } from '../types.ts';
import { parseDuration } from '../values.ts';
import { goRegexp } from '../matchers/regexp.ts';
import { argsOf, noBlock, Once, oneArg } from './helpers.ts';

/** Caddy's lumberjack defaults (modules/logging/filewriter.go). */
export const ROLL_DEFAULTS: LogRoll = {
  enabled: true,
  sizeBytes: 100 * 1024 ** 2,
  keep: 10,
  keepDays: 90,
  localTime: false,
  compress: true,
};

/** The site `log [NAME] { … }` directive (NAME: Caddy ≥ 2.7's logger name override). */
export function parseAccessLog(node: Node): AccessLogDraft {
  const [name] = argsOf(node, 0, 1, 'log [NAME] [{ output …; format …; level … }]');
  if (name !== undefined) loggerName(name);
  const settings = parseLogSettings(node.block ?? [], 'log', 'site');
  const shared = settings.output === undefined && settings.format === undefined && settings.level === undefined;
  return { ...settings, ...(name !== undefined ? { name: name.text } : {}), ...(shared ? { shared: true } : {}), pos: posOf(node.name) };
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

type Settings = { -readonly [K in keyof LogConfig]?: LogConfig[K] };

/**
 * The lines of a `log` block. `where` is 'global' for the `log` global option, which also takes
 * `include` and `exclude` (logger-name namespaces); a site's `log` names its own entries.
 */
export function parseLogSettings(lines: readonly Node[], parent: string, where: 'global' | 'site' = 'global'): Settings {
  const settings: Settings = {};
  const once = new Once();
  for (const line of lines) {
    const sub = line.name.text;
    if (sub !== 'include' && sub !== 'exclude') once.check(line);
    switch (sub) {
      case 'output':
        settings.output = parseOutput(line);
        break;
      case 'format':
        settings.format = parseFormat(line, 'format');
        break;
      case 'level': {
        noBlock(line);
        const level = oneArg(line, 'level LEVEL');
        const lower = level.text.toLowerCase();
        // Caddy's (zap's) levels include panic and dpanic; both are above error, as fatal is here.
        const mapped = lower === 'panic' || lower === 'dpanic' ? 'fatal' : lower;
        if (!(LEVELS as readonly string[]).includes(mapped)) {
          throw configError(level, `unsupported log level "${level.text}" (use ${LEVELS.join(', ')})`);
        }
        settings.level = mapped as LogLevel;
        break;
      }
      case 'include':
      case 'exclude': {
        if (where === 'site') {
          throw configError(line.name, `${sub} is a subdirective of the log global option, not of a site's log (name the site's logger with log NAME and include it there)`);
        }
        noBlock(line);
        const names = argsOf(line, 1, Infinity, `${sub} LOGGER…`).map(loggerName);
        settings[sub] = [...(settings[sub] ?? []), ...names];
        break;
      }
      case 'hostnames':
      case 'no_hostname':
      case 'sampling':
        throw configError(line.name, `log: "${sub}" is not supported by my-server (a site's log covers every name of the site)`);
      default:
        throw configError(line.name, `unknown subdirective "${sub}" in ${parent}`);
    }
  }
  return settings;
}

/** A logger name or namespace (http.log.access, http.log.access.log0, tls, my-server…). */
function loggerName(tok: Token): string {
  if (!/^[A-Za-z0-9_.*-]+$/.test(tok.text)) throw configError(tok, `invalid logger name "${tok.text}" (letters, digits, _ - and dots)`);
  return tok.text;
}

function parseOutput(line: Node): LogOutput {
  const [kind, file] = argsOf(line, 1, 2, 'output stdout|stderr|discard|file PATH') as [Token, Token | undefined];
  switch (kind.text) {
    case 'stdout':
    case 'stderr':
    case 'discard':
      noBlock(line);
      argsOf(line, 1, 1, `output ${kind.text}`);
      return { kind: kind.text };
    case 'file': {
      if (file === undefined || file.text === '') throw configError(kind, 'output file: missing PATH');
      const { roll, mode } = parseFileOptions(line.block ?? []);
      return { kind: 'file', path: file.text, ...(roll !== undefined ? { roll } : {}), ...(mode !== undefined ? { mode } : {}) };
    }
    case 'net':
      throw configError(kind, 'output net is not supported by my-server (write to a file, stdout or stderr and ship the log from there)');
    default:
      throw configError(kind, `unsupported log output "${kind.text}" (use stdout, stderr, discard or file PATH)`);
  }
}

/** The block of `output file PATH { … }`; roll absent when the block sets nothing about rolling. */
function parseFileOptions(lines: readonly Node[]): { roll?: LogRoll; mode?: number } {
  let roll: { -readonly [K in keyof LogRoll]: LogRoll[K] } | undefined;
  let mode: number | undefined;
  const once = new Once();
  const r = (): { -readonly [K in keyof LogRoll]: LogRoll[K] } => (roll ??= { ...ROLL_DEFAULTS });
  for (const line of lines) {
    once.check(line);
    noBlock(line);
    const sub = line.name.text;
    switch (sub) {
      case 'mode': {
        const tok = oneArg(line, 'mode OCTAL');
        if (!/^[0-7]{1,4}$/.test(tok.text)) throw configError(tok, `mode: invalid file mode "${tok.text}" (1 to 4 octal digits, as in 0640)`);
        const m = parseInt(tok.text, 8);
        // As Caddy: an all-zero mode is the default.
        if (m !== 0) mode = m;
        break;
      }
      case 'roll_disabled':
      case 'roll_uncompressed':
      case 'roll_local_time':
        argsOf(line, 0, 0, sub);
        if (sub === 'roll_disabled') r().enabled = false;
        else if (sub === 'roll_uncompressed') r().compress = false;
        else r().localTime = true;
        break;
      case 'roll_size': {
        const tok = oneArg(line, 'roll_size SIZE');
        const bytes = sizeOf(tok.text);
        if (bytes === undefined || !Number.isSafeInteger(bytes)) throw configError(tok, `roll_size: invalid size "${tok.text}" (use a unit, as in 10MiB, 100MB or 1GiB)`);
        // Caddy (lumberjack) rolls at whole MiB, rounding up; zero means its default.
        const mib = Math.ceil(bytes / 1024 ** 2);
        r().sizeBytes = mib === 0 ? ROLL_DEFAULTS.sizeBytes : mib * 1024 ** 2;
        break;
      }
      case 'roll_keep': {
        const tok = oneArg(line, 'roll_keep N');
        if (!/^\d+$/.test(tok.text) || !Number.isSafeInteger(Number(tok.text))) throw configError(tok, `roll_keep: invalid number "${tok.text}"`);
        const n = Number(tok.text);
        r().keep = n === 0 ? ROLL_DEFAULTS.keep : n;
        break;
      }
      case 'roll_keep_for': {
        const tok = oneArg(line, 'roll_keep_for DURATION');
        const ms = parseDuration(tok.text);
        if (ms === undefined) throw configError(tok, `roll_keep_for: invalid duration "${tok.text}" (as in 720h or 30d)`);
        if (ms < 0) throw configError(tok, `roll_keep_for: negative duration "${tok.text}"`);
        // Day resolution, rounded up, as Caddy; zero means its default.
        const days = Math.ceil(ms / 86_400_000);
        r().keepDays = days === 0 ? ROLL_DEFAULTS.keepDays : days;
        break;
      }
      default:
        throw configError(line.name, `unknown subdirective "${sub}" in output file (use mode, roll_disabled, roll_size, roll_uncompressed, roll_local_time, roll_keep, roll_keep_for)`);
    }
  }
  return { ...(roll !== undefined ? { roll } : {}), ...(mode !== undefined ? { mode } : {}) };
}

/** go-humanize's ParseBytes units, as Caddy reads roll_size: SI (kB, MB) and IEC (KiB, MiB). */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, ki: 1024, kib: 1024,
  m: 1e6, mb: 1e6, mi: 1024 ** 2, mib: 1024 ** 2,
  g: 1e9, gb: 1e9, gi: 1024 ** 3, gib: 1024 ** 3,
  t: 1e12, tb: 1e12, ti: 1024 ** 4, tib: 1024 ** 4,
};

function sizeOf(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)$/.exec(text.replaceAll(',', ''));
  if (m === null) return undefined;
  const unit = SIZE_UNITS[(m[2] as string).toLowerCase()];
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}

/** `format ENCODER …` and `wrap ENCODER …`: the line's first argument names the encoder. */
function parseFormat(line: Node, what: 'format' | 'wrap'): LogFormat {
  const [enc] = argsOf(line, 1, 1, `${what} json|console|filter|append`) as [Token];
  switch (enc.text) {
    case 'json':
    case 'console':
      if (line.open !== undefined) {
        throw configError(line.open, `${what} ${enc.text}: encoder options (time_format, message_key…) are not supported by my-server`);
      }
      return enc.text;
    case 'filter':
    case 'append': {
      if (line.block === undefined) throw configError(enc, `${what} ${enc.text} needs a block (usage: ${what} ${enc.text} { FIELD … })`);
      return enc.text === 'filter' ? parseFilterEncoder(line.block) : parseAppendEncoder(line.block);
    }
    default:
      throw configError(enc, `unsupported log format "${enc.text}" (use json, console, filter or append)`);
  }
}

/** Added by the logging library itself; Caddy cannot filter them either. */
const FUNDAMENTAL = new Set(['ts', 'time', 'level', 'logger', 'msg']);

/** `filter { wrap …; fields { FIELD FILTER … }; FIELD FILTER … }`: the flat form is Caddy ≥ 2.7's. */
function parseFilterEncoder(lines: readonly Node[]): LogFormat {
  const byField = new Map<string, LogFieldFilter>();
  const once = new Once();
  const field = (l: Node): void => {
    if (FUNDAMENTAL.has(l.name.text)) throw configError(l.name, `format filter: "${l.name.text}" is written by the logger itself and cannot be filtered`);
    // As Caddy (a map by field name): a later filter for the same field replaces the earlier one.
    byField.set(l.name.text, parseFieldFilter(l));
  };
  const wrap = wrappedFields(lines, once, field);
  return { kind: 'filter', ...(wrap !== undefined ? { wrap } : {}), fields: [...byField.values()] };
}

/**
 * The lines of `format filter` and `format append`: `wrap FORMAT` (once), and field lines, either
 * flat (newer Caddy) or inside `fields { }`. Returns the wrapped format, if any.
 */
function wrappedFields(lines: readonly Node[], once: Once, field: (line: Node) => void): LogFormat | undefined {
  let wrap: LogFormat | undefined;
  for (const line of lines) {
    if (line.name.text === 'wrap') {
      once.check(line);
      wrap = parseFormat(line, 'wrap');
    } else if (line.name.text === 'fields' && line.args.length === 0 && line.block !== undefined) {
      for (const l of line.block) field(l);
    } else {
      field(line);
    }
  }
  return wrap;
}

function parseFieldFilter(line: Node): LogFieldFilter {
  const field = line.name.text;
  const [kind] = line.args;
  if (kind === undefined) {
    throw configError(line.name, `format filter: "${field}" needs a filter (delete, rename, replace, ip_mask, query, cookie, hash or regexp)`);
  }
  const usage = (u: string): string => `${field} ${u}`;
  switch (kind.text) {
    case 'delete':
    case 'hash':
      noBlock(line);
      argsOf(line, 1, 1, usage(kind.text));
      return { field, filter: kind.text };
    case 'rename': {
      noBlock(line);
      const [, to] = argsOf(line, 2, 2, usage('rename KEY')) as [Token, Token];
      if (to.text === '') throw configError(to, 'rename: the new key must not be empty');
      return { field, filter: 'rename', name: to.text };
    }
    case 'replace': {
      noBlock(line);
      const [, value] = argsOf(line, 1, 2, usage('replace VALUE')) as [Token, Token | undefined];
      return { field, filter: 'replace', value: value?.text ?? '' };
    }
    case 'ip_mask':
      return { field, filter: 'ip_mask', ...parseIpMask(line) };
    case 'query':
    case 'cookie': {
      argsOf(line, 1, 1, usage(`${kind.text} { delete|hash NAME; replace NAME VALUE }`));
      if (line.block === undefined) throw configError(kind, `${kind.text} needs a block (usage: ${usage(`${kind.text} { delete|hash NAME; replace NAME VALUE }`)})`);
      return { field, filter: kind.text, actions: line.block.map(valueAction) };
    }
    case 'regexp': {
      noBlock(line);
      const [, pattern, replacement] = argsOf(line, 2, 3, usage('regexp PATTERN REPLACEMENT')) as [Token, Token, Token | undefined];
      const { source, flags } = goRegexp(pattern);
      return { field, filter: 'regexp', pattern: source, ...(flags !== '' ? { flags } : {}), replacement: goReplacement(replacement?.text ?? '') };
    }
    default:
      throw configError(kind, `unknown log filter "${kind.text}" for ${field} (use delete, rename, replace, ip_mask, query, cookie, hash or regexp)`);
  }
}

/** `ip_mask [V4 [V6]] [{ ipv4 N; ipv6 N }]`: prefix lengths kept of IPv4 and IPv6 addresses. */
function parseIpMask(line: Node): { ipv4?: number; ipv6?: number } {
  const [, v4, v6] = argsOf(line, 1, 3, `${line.name.text} ip_mask [IPV4_BITS [IPV6_BITS]] [{ ipv4 N; ipv6 N }]`) as [Token, Token | undefined, Token | undefined];
  const out: { ipv4?: number; ipv6?: number } = {};
  if (v4 !== undefined) out.ipv4 = bits(v4, 32, 'ipv4');
  if (v6 !== undefined) out.ipv6 = bits(v6, 128, 'ipv6');
  const once = new Once();
  for (const sub of line.block ?? []) {
    once.check(sub);
    noBlock(sub);
    if (sub.name.text !== 'ipv4' && sub.name.text !== 'ipv6') throw configError(sub.name, `ip_mask: unknown subdirective "${sub.name.text}" (use ipv4 N or ipv6 N)`);
    const which = sub.name.text;
    out[which] = bits(oneArg(sub, `${which} BITS`), which === 'ipv4' ? 32 : 128, which);
  }
  return out;
}

function bits(tok: Token, max: number, what: string): number {
  if (!/^\d+$/.test(tok.text) || Number(tok.text) > max) throw configError(tok, `ip_mask: invalid ${what} prefix length "${tok.text}" (0-${max})`);
  return Number(tok.text);
}

function valueAction(line: Node): LogValueAction {
  noBlock(line);
  const type = line.name.text;
  if (type === 'delete' || type === 'hash') return { type, name: oneArg(line, `${type} NAME`).text };
  if (type === 'replace') {
    const [name, value] = argsOf(line, 2, 2, 'replace NAME VALUE') as [Token, Token];
    return { type, name: name.text, value: value.text };
  }
  throw configError(line.name, `unknown action "${type}" (use delete NAME, hash NAME or replace NAME VALUE)`);
}

/**
 * Go's regexp replacement template (`$1`, `${1}`, `$name`, `${name}`, `$$`) in JavaScript's form.
 * Go takes the longest name after `$`, so `$1x` is the group named "1x", which is empty here as there.
 */
function goReplacement(template: string): string {
  return template.replace(/\$(\$|\{(\w+)\}|(\w+))/g, (_all, _x: string, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare;
    if (name === undefined) return '$$';
    return /^\d+$/.test(name) ? `$${name}` : `$<${name}>`;
  });
}

/** `append { wrap …; fields { FIELD VALUE }; FIELD VALUE }`. */
function parseAppendEncoder(lines: readonly Node[]): LogFormat {
  const fields = new Map<string, LogAppendField>();
  const once = new Once();
  const field = (l: Node): void => {
    noBlock(l);
    const value = oneArg(l, `${l.name.text} VALUE`);
    fields.set(l.name.text, { name: l.name.text, value: scalar(value) });
  };
  const wrap = wrappedFields(lines, once, field);
  return { kind: 'append', ...(wrap !== undefined ? { wrap } : {}), fields: [...fields.values()] };
}

/** Caddy's ScalarVal: an unquoted number or true/false is logged as such; quoted, it stays a string. */
function scalar(tok: Token): string | number | boolean {
  if (tok.quote !== '') return tok.text;
  if (tok.text === 'true' || tok.text === 'false') return tok.text === 'true';
  if (/^-?\d+(\.\d+)?$/.test(tok.text) && Number.isFinite(Number(tok.text))) return Number(tok.text);
  return tok.text;
}

/**
 * The `log [NAME] { … }` global option: `default` (or no NAME) configures the process logger,
 * any other NAME adds a logger that takes the lines its include/exclude accept.
 */
export function parseGlobalLog(node: Node, draft: GlobalsDraft): void {
  const [nameTok] = argsOf(node, 0, 1, 'log [NAME] { output …; format …; level …; include …; exclude … }');
  const name = nameTok === undefined ? 'default' : loggerName(nameTok);
  const seen = name === 'default' ? draft.log !== undefined : (draft.loggers ?? []).some((l) => l.name === name);
  if (seen) throw configError(nameTok ?? node.name, `log ${name} is already set`);
  const settings = parseLogSettings(node.block ?? [], name === 'default' ? 'log' : `log ${name}`, 'global');
  if (name === 'default') {
    draft.log = settings;
    return;
  }
  draft.loggers = [
    ...(draft.loggers ?? []),
    { ...settings, name, output: settings.output ?? { kind: 'stderr' }, level: settings.level ?? 'info' },
  ];
}
