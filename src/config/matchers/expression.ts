/**
 * The expression matcher (Caddy's MatchExpression):
 *
 *     expression "CEL"            (or `@name "CEL"`)
 *     expression TOKENS…          several tokens are joined with spaces, quotes kept
 *
 * Each line is its own matcher (all must hold). The expression is parsed and type-checked here,
 * so a bad one is a FILE:LINE:COL error when the config loads; it must give a bool.
 */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { ExpressionRequestMatcher } from '../types.ts';
import { noBlock } from '../directives/helpers.ts';
import { celEnvironment, expandCelPlaceholders, type CelMatcherFunctions } from './cel.ts';
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
    checkCel(first, expr, setName);
    return { type: 'expression', expr, name: setName };
  });
}

/** A token as written, quotes included (Caddy's RemainingArgsRaw). */
function rawText(tok: Token): string {
  return tok.quote === '"' || tok.quote === '`' ? `${tok.quote}${tok.text}${tok.quote}` : tok.text;
}

function checkCel(at: Token, expr: string, setName: string): void {
  let result;
  try {
    result = celEnvironment(NEVER, setName).check(expandCelPlaceholders(expr));
  } catch (err) {
    throw configError(at, `expression: invalid CEL "${expr}": ${summary(err)}`);
  }
  if (!result.valid) throw configError(at, `expression: invalid CEL "${expr}": ${summary(result.error)}`);
  if (result.type !== 'bool') throw configError(at, `expression: CEL request matcher expects return type of bool, not ${result.type ?? 'unknown'} ("${expr}")`);
}

function summary(err: unknown): string {
  if (err instanceof Error) {
    const s = (err as Error & { summary?: unknown }).summary;
    return typeof s === 'string' && s !== '' ? s : (err.message.split('\n')[0] ?? err.message);
  }
  return String(err);
}
