/**
 * Small site directives:
 *
 *     redir [MATCHER] TO [301|302|303|307|308|permanent|temporary|3xx|401]
 *     respond [MATCHER] [BODY|STATUS] [STATUS]
 *     header [MATCHER] [+|-]NAME [VALUE]      | header [MATCHER] { [+|-]NAME [VALUE] … }
 *     encode [MATCHER] [zstd|gzip...]
 *     log [{ output stdout|stderr|file PATH; format json|console; level LEVEL }]
 *
 * MATCHER is `*` or a path such as `/api/*`. `respond` with one three-digit argument takes it as
 * the status, as the Caddyfile does; `encode` without formats means `zstd gzip`.
 */
import { configError, posOf } from '../errors.ts';
import type { AccessLogDraft } from '../draft.ts';
import { ENCODE_DEFAULTS, REDIR_DEFAULT_STATUS, RESPOND_DEFAULT_STATUS } from '../defaults.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { EncodeRoute, HeaderOp, HeaderRoute, LogConfig, LogLevel, LogOutput, RedirRoute, RespondRoute } from '../types.ts';
import { headerNameArg, intArg } from '../values.ts';
import { argsOf, noBlock, Once, oneArg, splitMatcher, withArgs } from './helpers.ts';

export function parseRedir(node: Node): RedirRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  const [to, code] = argsOf(withArgs(node, args), 1, 2, 'redir [MATCHER] TO [CODE]') as [Token, Token | undefined];
  let status: number = REDIR_DEFAULT_STATUS;
  if (code !== undefined) {
    if (code.text === 'permanent') status = 301;
    else if (code.text === 'temporary') status = 302;
    else if (code.text === 'html') throw configError(code, 'redir: "html" redirects are not supported');
    else {
      status = Number(code.text);
      if (!/^\d{3}$/.test(code.text) || !((status >= 300 && status <= 399) || status === 401)) {
        throw configError(code, `invalid redirect status "${code.text}": use a 3xx code, 401, permanent or temporary`);
      }
    }
  }
  return { kind: 'redir', pos: posOf(node.name), ...(matcher ? { matcher } : {}), to: to.text, status };
}

export function parseRespond(node: Node): RespondRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  const [first, second] = argsOf(withArgs(node, args), 0, 2, 'respond [MATCHER] [BODY] [STATUS]');
  let body = '';
  let status: number = RESPOND_DEFAULT_STATUS;
  if (second !== undefined) {
    body = (first as Token).text;
    status = intArg(second, 100, 999, 'status code');
  } else if (first !== undefined) {
    if (/^\d{3}$/.test(first.text) && Number(first.text) >= 100) status = Number(first.text);
    else body = first.text;
  }
  return { kind: 'respond', pos: posOf(node.name), ...(matcher ? { matcher } : {}), body, status };
}

export function parseHeader(node: Node): HeaderRoute {
  const { matcher, args } = splitMatcher(node);
  const ops: HeaderOp[] = [];
  const usage = 'header [MATCHER] [+|-]NAME [VALUE]';
  if (args.length > 0) ops.push(headerOp(withArgs(node, args), usage));
  if (args.length > 0 && node.open !== undefined) {
    throw configError(node.open, 'header: give one header on the line or a block of them, not both');
  }
  for (const line of node.block ?? []) {
    noBlock(line);
    ops.push(headerOp({ name: node.name, args: [line.name, ...line.args] }, 'header { [+|-]NAME [VALUE] }'));
  }
  if (ops.length === 0) throw configError(node.name, `header: missing argument (usage: ${usage})`);
  return {
    kind: 'header',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    ops: applicationOrder(ops),
    deferred: ops.some((op) => op.op === 'delete'),
  };
}

/** `[+|-]NAME [VALUE]` from the node's arguments; `-NAME` takes no value. */
export function headerOp(node: Node, usage: string): HeaderOp {
  const [field, value] = argsOf(node, 1, 2, usage) as [Token, Token | undefined];
  if (field.text.startsWith('-')) {
    if (value !== undefined) throw configError(value, `${node.name.text}: a deleted header takes no value (usage: ${usage})`);
    return { op: 'delete', name: headerNameArg(field, field.text.slice(1)) };
  }
  const add = field.text.startsWith('+');
  const name = headerNameArg(field, add ? field.text.slice(1) : field.text);
  if (name.includes('*')) throw configError(field, `invalid header name "${name}": wildcards only work with -`);
  if (value !== undefined && /[\r\n\0]/.test(value.text)) {
    throw configError(value, `${node.name.text}: a header value may not contain line breaks or NUL`);
  }
  return { op: add ? 'add' : 'set', name, value: value?.text ?? '' };
}

/**
 * The order Caddy applies one directive's header operations in, whatever order they were written:
 * delete-all (`-*`), adds, sets, then other deletes. Listing them that way lets the runtime apply
 * them one after the other.
 */
export function applicationOrder(ops: readonly HeaderOp[]): HeaderOp[] {
  const rank = (op: HeaderOp): number =>
    op.op === 'delete' && op.name === '*' ? 0 : op.op === 'add' ? 1 : op.op === 'set' ? 2 : 3;
  return [...ops].sort((a, b) => rank(a) - rank(b));
}

export function parseEncode(node: Node): EncodeRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  const encodings: ('zstd' | 'gzip')[] = [];
  for (const tok of args) {
    if (tok.text !== 'zstd' && tok.text !== 'gzip') throw configError(tok, `encode: unsupported encoding "${tok.text}" (use zstd or gzip)`);
    if (encodings.includes(tok.text)) throw configError(tok, `encode: "${tok.text}" is listed twice`);
    encodings.push(tok.text);
  }
  return {
    kind: 'encode',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    encodings: encodings.length > 0 ? encodings : [...ENCODE_DEFAULTS],
  };
}

export function parseAccessLog(node: Node): AccessLogDraft {
  const [name] = node.args;
  if (name !== undefined) throw configError(name, 'log: logger names are not supported (usage: log [{ output …; format …; level … }])');
  return { ...parseLogSettings(node.block ?? [], 'log'), pos: posOf(node.name) };
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** `output`, `format` and `level` lines, shared by the `log` directive and the `log` global option. */
export function parseLogSettings(lines: readonly Node[], parent: string): Partial<LogConfig> {
  const settings: { output?: LogOutput; format?: 'json' | 'console'; level?: LogLevel } = {};
  const once = new Once();
  for (const line of lines) {
    once.check(line);
    noBlock(line);
    switch (line.name.text) {
      case 'output': {
        const [kind, file] = argsOf(line, 1, 2, 'output stdout|stderr|file PATH') as [Token, Token | undefined];
        if (kind.text === 'stdout' || kind.text === 'stderr') {
          argsOf(line, 1, 1, `output ${kind.text}`);
          settings.output = { kind: kind.text };
        } else if (kind.text === 'file') {
          if (file === undefined || file.text === '') throw configError(kind, 'output file: missing PATH');
          settings.output = { kind: 'file', path: file.text };
        } else {
          throw configError(kind, `unsupported log output "${kind.text}" (use stdout, stderr or file PATH)`);
        }
        break;
      }
      case 'format': {
        const format = oneArg(line, 'format json|console');
        if (format.text !== 'json' && format.text !== 'console') {
          throw configError(format, `unsupported log format "${format.text}" (use json or console)`);
        }
        settings.format = format.text;
        break;
      }
      case 'level': {
        const level = oneArg(line, 'level LEVEL');
        const lower = level.text.toLowerCase();
        if (!(LEVELS as readonly string[]).includes(lower)) {
          throw configError(level, `unsupported log level "${level.text}" (use ${LEVELS.join(', ')})`);
        }
        settings.level = lower as LogLevel;
        break;
      }
      default:
        throw configError(line.name, `unknown subdirective "${line.name.text}" in ${parent}`);
    }
  }
  return settings;
}
