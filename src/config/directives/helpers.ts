/** Argument checks shared by the directive parsers. Each throws a ConfigError at the offending token. */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { PathMatcher } from '../types.ts';

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
 * does: `*` (all requests) or a path starting with `/`. Named matchers are not supported.
 */
export function splitMatcher(node: Node): { matcher?: PathMatcher; args: readonly Token[] } {
  const [first, ...rest] = node.args;
  if (first === undefined) return { args: [] };
  if (first.text === '*') return { args: rest };
  if (first.text.startsWith('/')) return { matcher: { path: first.text }, args: rest };
  if (first.text.startsWith('@')) {
    throw configError(first, `named matchers such as "${first.text}" are not supported; use a path matcher such as /api/*`);
  }
  return { args: node.args };
}

/** The node with its leading matcher removed, for argument counting. */
export function withArgs(node: Node, args: readonly Token[]): Node {
  return { ...node, args };
}
