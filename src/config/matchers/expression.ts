/**
 * The expression matcher (Caddy's MatchExpression):
 *
 *     expression "CEL"            (or `@name "CEL"`)
 *     expression TOKENS…          several tokens are joined with spaces, quotes kept
 *
 * Each line is its own matcher (all must hold). The expression is parsed and type-checked here,
 * so a bad one is a FILE:LINE:COL error when the config loads; it must give a bool.
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import { translateGoRegexp } from '../../util/go-regexp.ts';
import { parseCidr } from '../cidr.ts';
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { ExpressionRequestMatcher, Pos } from '../types.ts';
import { noBlock } from '../directives/helpers.ts';
import { celEnvironment, celOffsetMapper, expandCelPlaceholders, type CelMatcherFunctions } from './cel.ts';
import { tryPolicyOf, unknownTryPolicy } from './file.ts';
import type { MatcherLines } from './index.ts';

const NEVER: CelMatcherFunctions = {
  list: () => false,
  protocol: () => false,
  pathRegexp: () => false,
  headerRegexp: () => false,
  varsRegexp: () => false,
  map: () => false,
  file: () => false,
};

export function expression({ lines, setName }: MatcherLines): ExpressionRequestMatcher[] {
  return lines.map((line) => {
    noBlock(line);
    const [first] = line.args;
    if (first === undefined) throw configError(line.name, 'expression: missing argument (usage: expression "CEL")');
    const expr = line.args.length === 1 ? first.text : line.args.map(rawText).join(' ');
    checkCel(first, expr, setName, line.args.length === 1);
    return { type: 'expression', expr, name: setName };
  });
}

/** A token as written, quotes included (Caddy's RemainingArgsRaw). */
function rawText(tok: Token): string {
  return tok.quote === '"' || tok.quote === '`' ? `${tok.quote}${tok.text}${tok.quote}` : tok.text;
}

function checkCel(at: Token, expr: string, setName: string, single: boolean): void {
  let result;
  try {
    result = celEnvironment(NEVER, setName).check(expandCelPlaceholders(expr));
  } catch (err) {
    throw configError(errorPos(at, expr, err, single), `expression: invalid CEL "${expr}": ${summary(err)}`);
  }
  if (!result.valid) throw configError(errorPos(at, expr, result.error, single), `expression: invalid CEL "${expr}": ${summary(result.error)}`);
  if (result.type !== 'bool') throw configError(at, `expression: CEL request matcher expects return type of bool, not ${result.type ?? 'unknown'} ("${expr}")`);
  const problem = constantArgumentProblem(celEnvironment(NEVER, setName).parse(expandCelPlaceholders(expr)).ast);
  if (problem !== undefined) throw configError(at, `expression: ${problem} ("${expr}")`);
}

/**
 * What Caddy's matcher macros refuse when the expression is provisioned, which a CEL type check
 * alone lets through: map values that are not strings or lists of strings, invalid ranges,
 * `forwarded` anywhere but first, regexps that do not compile. Only literal arguments can be
 * judged here; placeholder arguments are judged per request (a bad one does not match).
 */
function constantArgumentProblem(node: ASTNode): string | undefined {
  if (node.op === 'call') {
    const [fn, args] = node.args;
    const literal = args.map((a) => (a.op === 'value' && typeof a.args === 'string' ? a.args : undefined));
    if ((fn === 'header' || fn === 'query' || fn === 'vars' || fn === 'file') && args[0]?.op === 'map') {
      for (const [key, value] of args[0].args) {
        const items = value.op === 'list' ? value.args : [value];
        if (items.some((v) => v.op === 'value' && typeof v.args !== 'string')) return `${fn}(): matcher map values must be string or list of strings`;
        // The file matcher's try_policy, when written as a literal, is checked as the block's is.
        const policy = items[0];
        if (fn === 'file' && key.op === 'value' && key.args === 'try_policy' && policy?.op === 'value' && typeof policy.args === 'string') {
          if (tryPolicyOf(policy.args) === undefined) return `file(): ${unknownTryPolicy(policy.args)}`;
        }
      }
    }
    if (fn === 'remote_ip' || fn === 'client_ip') {
      for (const [i, text] of literal.entries()) {
        if (text === undefined) continue;
        if (text === 'forwarded' && fn === 'remote_ip') {
          if (i !== 0) return "remote_ip(): 'forwarded' must be the first argument";
          continue;
        }
        const c = parseCidr(text);
        if (typeof c === 'string') return `${fn}(): invalid address or CIDR "${text}": ${c}`;
      }
    }
    if (fn === 'path_regexp' || fn === 'header_regexp' || fn === 'vars_regexp') {
      const re = literal[literal.length - 1];
      if (re !== undefined && args.length >= (fn === 'path_regexp' ? 1 : 2)) {
        try {
          translateGoRegexp(re);
        } catch (err) {
          return `${fn}(): invalid regexp "${re}": ${(err as Error).message}`;
        }
      }
    }
  }
  for (const child of children(node)) {
    const problem = constantArgumentProblem(child);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function children(node: ASTNode): ASTNode[] {
  const out: ASTNode[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === 'object' && v !== null && 'op' in v) out.push(v as ASTNode);
  };
  if (node.op !== 'value') visit(node.args);
  return out;
}

/**
 * The column of a CEL error inside the expression's token when it can be told: one token on one
 * line, written without escapes (its source is then its text, after the opening quote).
 */
function errorPos(at: Token, expr: string, err: unknown, single: boolean): Pos {
  const range = (err as { range?: { start: number } } | undefined)?.range;
  const quoted = at.quote === '"' || at.quote === '`' ? 1 : 0;
  if (!single || range === undefined || expr.includes('\n') || at.end - at.start !== expr.length + 2 * quoted) return at;
  const original = celOffsetMapper(expr);
  if (original === undefined) return at;
  return { file: at.file, line: at.line, col: at.col + quoted + original(range.start) };
}

function summary(err: unknown): string {
  if (err instanceof Error) {
    const s = (err as Error & { summary?: unknown }).summary;
    return typeof s === 'string' && s !== '' ? s : (err.message.split('\n')[0] ?? err.message);
  }
  return String(err);
}
