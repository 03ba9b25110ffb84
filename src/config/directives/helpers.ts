/** Argument checks shared by the directive parsers. Each throws a ConfigError at the offending token. */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { HeaderOp, MatcherSet } from '../types.ts';
import { matcherToken } from '../matchers/index.ts';
import { headerNameArg } from '../values.ts';
import { goRegexp } from '../matchers/regexp.ts';

/** The node's arguments, checked to number between `min` and `max`; `usage` is the grammar shown in errors. */
export function argsOf(node: Node, min: number, max: number, usage: string): readonly Token[] {
  const { args } = node;
  if (args.length < min) {
    throw configError(node.name, `${node.name.text}: missing argument (usage: ${usage})`);
  }
  const extra = args[max];
  if (extra !== undefined) {
    throw configError(extra, `${node.name.text}: unexpected argument "${extra.text}" (usage: ${usage})`);
  }
  return args;
}

/** Exactly one argument. */
export function oneArg(node: Node, usage: string): Token {
  return argsOf(node, 1, 1, usage)[0] as Token;
}

export function noBlock(node: Node): void {
  if (node.open !== undefined) throw configError(node.open, `${node.name.text} does not take a block`);
}

export function needBlock(node: Node, usage: string): readonly Node[] {
  if (node.block === undefined) throw configError(node.name, `${node.name.text} needs a block (usage: ${usage})`);
  return node.block;
}

/** Fails on a second occurrence of the same (sub)directive in one block. */
export class Once {
  readonly #seen = new Map<string, Token>();
  check(node: Node): void {
    const prev = this.#seen.get(node.name.text);
    if (prev !== undefined) {
      throw configError(node.name, `${node.name.text} is already set at ${prev.file}:${prev.line}:${prev.col}`);
    }
    this.#seen.set(node.name.text, node.name);
  }
}

/**
 * Splits off the matcher token that may lead a handler directive's arguments, as the Caddyfile
 * does: `*` (all requests), a path starting with `/`, or `@name` (config/matchers).
 */
export function splitMatcher(node: Node): { matcher?: MatcherSet; args: readonly Token[] } {
  const [first, ...rest] = node.args;
  const token = matcherToken(first);
  if (token === undefined) return { args: node.args };
  return 'set' in token ? { matcher: token.set, args: rest } : { args: rest };
}

/** The node with its leading matcher removed, for argument counting. */
export function withArgs(node: Node, args: readonly Token[]): Node {
  return { ...node, args };
}

/**
 * One header operation, the grammar `header`, `header_up` and `header_down` share (Caddy's
 * headers/caddyfile.go applyHeaderOp):
 *
 *     NAME VALUE            set (no VALUE: set to empty)
 *     +NAME VALUE           add a value
 *     -NAME                 delete; `*` wildcards as prefix/suffix (`-*` deletes every field)
 *     ?NAME DEFAULT         set only if absent; response headers of `header` only, as in Caddy
 *     >NAME VALUE           set, and defer the directive
 *     [>]NAME SEARCH REPLACE  replace what the Go RE2 regexp SEARCH matches in NAME's values
 *                           (NAME `*`: every field); REPLACE may use `$1`, `${1}`, `${name}`
 *
 * `defers` says the line makes its `header` directive deferred (`-`, `?`, `>`), as Caddy does.
 * Where Caddy silently ignores an argument (`+NAME A B`, `-NAME A`) we fail: it was a typo.
 */
export function headerOpLine(
  node: Node,
  usage: string,
  allowDefault: boolean,
): { op: HeaderOp; defers: boolean } {
  const [field, value, replacement] = argsOf(node, 1, 3, usage) as [Token, Token | undefined, Token | undefined];
  const prefix = /^[-+?>]/.test(field.text) ? field.text.charAt(0) : '';
  const bare = field.text.slice(prefix.length);
  const where = node.name.text;
  if (replacement !== undefined) {
    if (prefix !== '' && prefix !== '>') {
      throw configError(replacement, `${where}: "${prefix}NAME" takes no search and replacement (usage: ${usage})`);
    }
    const name = bare === '*' ? '*' : fieldName(field, bare);
    const { source, flags } = goRegexp(value as Token);
    return {
      op: { op: 'replace', name, search: source, searchFlags: flags, replace: goReplacement(replacement) },
      defers: prefix === '>',
    };
  }
  if (prefix === '-') {
    // Caddy ignores a value after -NAME (headers/caddyfile.go applyHeaderOp): `-Server Caddy`, as
    // corpus case 34 has it, deletes Server.
    return { op: { op: 'delete', name: headerNameArg(field, bare) }, defers: true };
  }
  if (prefix === '?' && !allowDefault) {
    throw configError(
      field,
      `${where}: the default header modifier ('?') can only be used on response headers of the header directive`,
    );
  }
  const name = fieldName(field, bare);
  if (value !== undefined && /[\r\n\0]/.test(value.text)) {
    throw configError(value, `${where}: a header value may not contain line breaks or NUL`);
  }
  const kind = prefix === '+' ? 'add' : prefix === '?' ? 'default' : 'set';
  return { op: { op: kind, name, value: value?.text ?? '' }, defers: prefix === '?' || prefix === '>' };
}

function fieldName(tok: Token, name: string): string {
  if (name.includes('*')) throw configError(tok, `invalid header name "${name}": wildcards only work with -`);
  return headerNameArg(tok, name);
}

/** Go's Regexp.Expand template in JS `replace` syntax: `${1}` → `$1`, `${name}`/`$name` → `$<name>`. */
function goReplacement(tok: Token): string {
  return tok.text.replace(/\$(?:\{(\w+)\}|([A-Za-z_]\w*)|(\$))/g, (_m, braced: string | undefined, bare: string | undefined, dollar: string | undefined) => {
    if (dollar !== undefined) return '$$';
    const group = (braced ?? bare)!;
    return /^\d+$/.test(group) ? `$${group}` : `$<${group}>`;
  });
}
