/**
 * Logging configuration shared by the site `log` directive and the `log` global option:
 *
 *     log [{ output stdout|stderr|file PATH; format json|console; level LEVEL }]
 */
import { configError, posOf } from '../errors.ts';
import type { AccessLogDraft } from '../draft.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { LogConfig, LogLevel, LogOutput } from '../types.ts';
import { argsOf, noBlock, Once, oneArg } from './helpers.ts';

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
