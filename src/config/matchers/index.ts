/**
 * Request matchers in the Caddyfile (Caddy's httpcaddyfile: matcherSetFromMatcherToken and
 * parseMatcherDefinitions):
 *
 *     @name TYPE ARGS…            one matcher, on one line
 *     @name "CEL expression"      a quoted first argument is an `expression` matcher
 *     @name {                     a set: every line must match; lines of one TYPE are merged
 *         TYPE ARGS… [{ … }]
 *     }
 *
 * and the matcher token a directive may start with: `*` (every request), `/path` (a path matcher)
 * or `@name`. Each matcher type's parser lives in MATCHER_TYPES; adding a type is one entry there,
 * one type in types.ts (RequestMatcher) and one compiler in routes/matchers/.
 */
import { configError, posOf, type IssueCollector } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { MatcherSet, RequestMatcher } from '../types.ts';
import { argsOf, noBlock } from '../directives/helpers.ts';
import { expression } from './expression.ts';
import { file } from './file.ts';
import { clientIp, remoteIp } from './ip.ts';
import { header, headerRegexp, pathRegexp, protocol, query, vars, varsRegexp } from './request.ts';

/** What a matcher type's parser gets: the lines of that type in one set, in file order. */
export interface MatcherLines {
  /** `@name` without `@`, for the names of regexp captures (`{re.NAME.1}`). */
  readonly setName: string;
  readonly lines: readonly Node[];
  /** Parses nested sets (`not { … }`). */
  readonly parseSet: (lines: readonly Node[], at: Token, setName: string) => MatcherSet;
}

/**
 * One parser per matcher type. Lines of the same type in one set are given together, so the parser
 * merges them the way Caddy's matcher does when it unmarshals several segments (path lines add
 * paths, any one of which matches, and so on).
 */
export const MATCHER_TYPES: Readonly<Record<string, ((m: MatcherLines) => RequestMatcher | RequestMatcher[]) | undefined>> = {
  path: ({ lines }) => {
    const paths: string[] = [];
    for (const line of lines) {
      noBlock(line);
      for (const tok of argsOf(line, 1, Infinity, 'path PATHS…')) paths.push(tok.text);
    }
    return { type: 'path', paths };
  },
  host: ({ lines }) => {
    const hosts: string[] = [];
    for (const line of lines) {
      noBlock(line);
      for (const tok of argsOf(line, 1, Infinity, 'host HOSTS…')) hosts.push(tok.text.toLowerCase());
    }
    return { type: 'host', hosts };
  },
  method: ({ lines }) => {
    const methods: string[] = [];
    for (const line of lines) {
      noBlock(line);
      for (const tok of argsOf(line, 1, Infinity, 'method METHODS…')) methods.push(tok.text.toUpperCase());
    }
    return { type: 'method', methods };
  },
  path_regexp: pathRegexp,
  header,
  header_regexp: headerRegexp,
  query,
  protocol,
  remote_ip: remoteIp,
  client_ip: clientIp,
  vars,
  vars_regexp: varsRegexp,
  file,
  expression,
  // Each `not` is its own matcher (all must hold); inside one, a block's lines form one set and
  // an inline `not TYPE ARGS…` is a set of that one line (Caddy's MatchNot.UnmarshalCaddyfile).
  not: ({ lines, parseSet, setName }) =>
    lines.map((line) => {
      if (line.block !== undefined) {
        if (line.args.length > 0) throw configError(line.args[0] as Token, 'not: give a matcher on the line or a block of them, not both');
        return { type: 'not', sets: [parseSet(line.block, line.name, setName)] };
      }
      const [type, ...args] = line.args;
      if (type === undefined) throw configError(line.name, 'not: missing matcher (usage: not TYPE ARGS… | not { … })');
      return { type: 'not', sets: [parseSet([{ name: type, args }], line.name, setName)] };
    }),
};

/** Matcher types whose line may open a block. */
const BLOCK_TYPES: ReadonlySet<string> = new Set(['file', 'not']);

/** Parses `@name …` into its set. */
export function parseMatcherDefinition(node: Node): MatcherSet {
  const name = node.name.text;
  if (!/^@[A-Za-z0-9_.-]+$/.test(name)) throw configError(node.name, `invalid matcher name "${name}"`);
  const setName = name.slice(1);
  const [first, ...rest] = node.args;
  if (first !== undefined && first.quote !== '' && node.block === undefined) {
    // Caddy 2.7+: `@name "expr"` is `@name expression "expr"`.
    if (rest[0] !== undefined) throw configError(rest[0], `${name}: unexpected argument "${rest[0].text}" after the expression`);
    return { ...parseMatcherSet([{ name: { ...first, text: 'expression', quote: '' }, args: [first] }], node.name, setName), name };
  }
  if (first !== undefined) {
    if (node.block !== undefined) {
      // Caddy's one-line form takes the whole segment, so `@name file { root … }` and
      // `@name not { … }` are one matcher with its block; other types take no block.
      if (!BLOCK_TYPES.has(first.text)) throw configError(node.open ?? first, `${name}: give one matcher on the line or a block of them, not both`);
      const line: Node = { name: first, args: rest, block: node.block, ...(node.open !== undefined ? { open: node.open } : {}) };
      return { ...parseMatcherSet([line], node.name, setName), name };
    }
    return { ...parseMatcherSet([{ name: first, args: rest }], node.name, setName), name };
  }
  if (node.block === undefined) throw configError(node.name, `${name}: missing matcher (usage: ${name} TYPE ARGS… | ${name} { … })`);
  return { ...parseMatcherSet(node.block, node.name, setName), name };
}

/** A set from matcher lines: lines grouped by type (first appearance order), each type parsed once. */
export function parseMatcherSet(lines: readonly Node[], at: Token, setName: string): MatcherSet {
  const byType = new Map<string, Node[]>();
  for (const line of lines) {
    const type = line.name.text;
    if (MATCHER_TYPES[type] === undefined) {
      throw configError(line.name, `unknown matcher "${type}"${type.startsWith('@') ? ' (a named matcher cannot be used inside another)' : ''}`);
    }
    const group = byType.get(type);
    if (group === undefined) byType.set(type, [line]);
    else group.push(line);
  }
  const matchers: RequestMatcher[] = [];
  for (const [type, group] of byType) {
    const parsed = (MATCHER_TYPES[type] as NonNullable<(typeof MATCHER_TYPES)[string]>)({ setName, lines: group, parseSet: parseMatcherSet });
    if (Array.isArray(parsed)) matchers.push(...parsed);
    else matchers.push(parsed);
  }
  if (matchers.length === 0) throw configError(at, 'empty matcher set');
  return { matchers, pos: posOf(at) };
}

/**
 * The matcher named by a directive's first argument, if it is a matcher token: `*` gives
 * `{ all: true }`, `/path` a path set, `@name` the definition in scope (withMatcherScope).
 */
export type MatcherToken = { readonly all: true } | { readonly set: MatcherSet };

export function matcherToken(tok: Token | undefined): MatcherToken | undefined {
  if (tok === undefined) return undefined;
  if (tok.text === '*') return { all: true };
  if (tok.text.startsWith('/')) return { set: { matchers: [{ type: 'path', paths: [tok.text] }], pos: posOf(tok) } };
  if (tok.text.startsWith('@')) return { set: lookupMatcher(tok) };
  return undefined;
}

/**
 * Named matchers visible to the block being parsed: its own definitions over those of the blocks
 * around it (Caddy copies the outer definitions into each nested block's scope). A stack, because
 * directive parsers run synchronously and nest; threading a scope through every parser's
 * signature would buy nothing but noise.
 */
const scopes: ReadonlyMap<string, MatcherSet>[] = [];

/** Runs `parse` with the `@name` definitions among `body` in scope; definitions are parsed first. */
export function withMatcherScope<T>(body: readonly Node[], issues: IssueCollector, parse: () => T): T {
  const defs = new Map<string, MatcherSet>();
  for (const node of body) {
    if (!node.name.text.startsWith('@')) continue;
    issues.attempt(() => {
      if (defs.has(node.name.text)) throw configError(node.name, `matcher ${node.name.text} is defined more than once in this block`);
      defs.set(node.name.text, parseMatcherDefinition(node));
    });
  }
  scopes.push(defs);
  try {
    return parse();
  } finally {
    scopes.pop();
  }
}

function lookupMatcher(tok: Token): MatcherSet {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const set = scopes[i]?.get(tok.text);
    if (set !== undefined) return set;
  }
  throw configError(tok, `unknown matcher ${tok.text}: no "${tok.text} …" definition in this block or the blocks around it`);
}
