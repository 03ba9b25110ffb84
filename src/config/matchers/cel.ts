/**
 * The CEL environment of the `expression` matcher (Caddy's celmatcher.go), in one place for both
 * sides: the config loader checks expressions against it (with implementations that never run)
 * and routes/matchers/expression.ts evaluates them with the real ones.
 *
 * Caddy's shorthand: `{name}` becomes `ph(req, "name")` (a placeholder value; not after a
 * backslash, and `\{name}` becomes a literal `{name}`), and the matchers are functions:
 * `path('/a*', …)`, `host(…)`, `method(…)`, `remote_ip(…)`, `client_ip(…)`, `protocol('https')`,
 * `path_regexp([name,] re)`, `header_regexp([name,] field, re)`, `vars_regexp([name,] key, re)`,
 * `header({'Field': 'v' | ['v', …]})`, `query({…})`, `vars({…})`, `file()`, `file('a', …)`,
 * `file({'root': …, 'try_files': […], 'try_policy': …, 'split_path': […]})`.
 */
import type { Environment } from '@marcbachmann/cel-js';

/**
 * The CEL library (~5 MiB resident) is loaded only for configs that may hold an expression
 * matcher: parseConfig awaits loadCel() first when one can be there (config/index.ts), which
 * makes it ready for both the check here and the run time's compile.
 */
let cel: typeof import('@marcbachmann/cel-js') | undefined;

export async function loadCel(): Promise<void> {
  cel ??= await import('@marcbachmann/cel-js');
}

/** The value of `req` in a program: what ph() reads placeholders from. */
export class CelRequest {
  readonly ph: (name: string) => unknown;
  constructor(ph: (name: string) => unknown) {
    this.ph = ph;
  }
}

export type StrMap = Readonly<Record<string, readonly string[]>>;

/** What the matcher functions do; the run time gives real ones, the config check stubs. */
export interface CelMatcherFunctions {
  readonly list: (type: 'path' | 'host' | 'method' | 'remote_ip' | 'client_ip', values: readonly string[]) => boolean;
  readonly protocol: (proto: string) => boolean;
  readonly pathRegexp: (name: string, re: string) => boolean;
  readonly headerRegexp: (name: string, field: string, re: string) => boolean;
  readonly varsRegexp: (name: string, key: string, re: string) => boolean;
  readonly map: (type: 'header' | 'query' | 'vars', m: StrMap) => boolean;
  readonly file: (m: StrMap) => boolean;
}

/** Caddy takes any number of strings; overloads up to this many, and a list for more. */
const MAX_VARARGS = 16;

export function celEnvironment(fns: CelMatcherFunctions, setName: string): Environment {
  if (cel === undefined) throw new Error('CEL expression used before loadCel() (config/matchers/cel.ts)');
  const env = new cel.Environment({ homogeneousAggregateLiterals: false })
    .registerType('http.Request', CelRequest)
    .registerVariable('req', 'http.Request')
    .registerFunction('ph(http.Request, string): dyn', (req: CelRequest, name: string) => req.ph(name) ?? null);
  for (const type of ['path', 'host', 'method', 'remote_ip', 'client_ip'] as const) {
    for (let n = 1; n <= MAX_VARARGS; n++) {
      env.registerFunction(`${type}(${Array(n).fill('string').join(', ')}): bool`, (...args: string[]) => fns.list(type, args));
    }
    env.registerFunction(`${type}(list<string>): bool`, (l: string[]) => fns.list(type, l));
  }
  env.registerFunction('protocol(string): bool', (p: string) => fns.protocol(p.toLowerCase()));
  env.registerFunction('path_regexp(string): bool', (re: string) => fns.pathRegexp(setName, re));
  env.registerFunction('path_regexp(string, string): bool', (name: string, re: string) => fns.pathRegexp(name || setName, re));
  env.registerFunction('header_regexp(string, string): bool', (field: string, re: string) => fns.headerRegexp(setName, field, re));
  env.registerFunction('header_regexp(string, string, string): bool', (name: string, field: string, re: string) => fns.headerRegexp(name || setName, field, re));
  env.registerFunction('vars_regexp(string, string): bool', (key: string, re: string) => fns.varsRegexp(setName, key, re));
  env.registerFunction('vars_regexp(string, string, string): bool', (name: string, key: string, re: string) => fns.varsRegexp(name || setName, key, re));
  for (const type of ['header', 'query', 'vars'] as const) {
    env.registerFunction(`${type}(map<string, dyn>): bool`, (m: unknown) => fns.map(type, toStrMap(m)));
  }
  env.registerFunction('file(): bool', () => fns.file({}));
  env.registerFunction('file(map<string, dyn>): bool', (m: unknown) => fns.file(toStrMap(m)));
  for (let n = 1; n <= MAX_VARARGS; n++) {
    env.registerFunction(`file(${Array(n).fill('string').join(', ')}): bool`, (...args: string[]) => fns.file({ try_files: args }));
  }
  return env;
}

/** Caddy's CELValueToMapStrList: each value a string or a list of strings. */
function toStrMap(m: unknown): StrMap {
  const entries: [unknown, unknown][] = m instanceof Map ? [...(m as Map<unknown, unknown>)] : Object.entries(m as object);
  const out: Record<string, readonly string[]> = {};
  for (const [k, v] of entries) {
    if (typeof k !== 'string') throw new Error(`unsupported map key type in matcher input: ${typeof k}`);
    if (typeof v === 'string') out[k] = [v];
    else if (Array.isArray(v) && v.every((e) => typeof e === 'string')) out[k] = v as string[];
    else throw new Error(`unsupported value type in matcher input for "${k}": want a string or a list of strings`);
  }
  return out;
}

/** Caddy's placeholderRegexp / escapedPlaceholderRegexp rewrite. */
export function expandCelPlaceholders(expr: string): string {
  return expr.replace(/([^\\]|^)\{([a-zA-Z][\w.-]+)\}/g, '$1ph(req, "$2")').replace(/\\\{([a-zA-Z][\w.-]+)\}/g, '{$1}');
}

/**
 * Where an offset in expandCelPlaceholders(expr) was written in `expr` (for error columns): a
 * rewritten placeholder maps to its `{`. Undefined in the rare texts where the one-pass mapping
 * below and Caddy's two passes disagree (`\{a}{b}`).
 */
export function celOffsetMapper(expr: string): ((offset: number) => number) | undefined {
  const mapped = mapPlaceholders(expr);
  return mapped.text === expandCelPlaceholders(expr) ? mapped.original : undefined;
}

function mapPlaceholders(expr: string): { text: string; original: (offset: number) => number } {
  const pieces: { at: number; from: number; length: number; literal: boolean }[] = [];
  let text = '';
  const push = (s: string, from: number, literal: boolean): void => {
    pieces.push({ at: text.length, from, length: s.length, literal });
    text += s;
  };
  const re = /\\\{([a-zA-Z][\w.-]+)\}|(^|[^\\])\{([a-zA-Z][\w.-]+)\}/g;
  let last = 0;
  for (let m = re.exec(expr); m !== null; m = re.exec(expr)) {
    push(expr.slice(last, m.index), last, true);
    if (m[1] !== undefined) {
      push(`{${m[1]}}`, m.index, false);
    } else {
      const lead = m[2] as string;
      push(lead, m.index, true);
      push(`ph(req, "${m[3] as string}")`, m.index + lead.length, false);
    }
    last = m.index + m[0].length;
  }
  push(expr.slice(last), last, true);
  return {
    text,
    original: (offset) => {
      for (const p of pieces) {
        if (offset < p.at + p.length || p === pieces[pieces.length - 1]) return p.literal ? p.from + Math.min(offset - p.at, p.length) : p.from;
      }
      return 0;
    },
  };
}
