/**
 * Run-time expression matcher: the CEL program is parsed once per config (the config loader has
 * already type-checked it). Matcher functions in it build the same compiled matchers as the
 * Caddyfile forms, once per distinct argument list (arguments are nearly always constants).
 * The program runs synchronously, so the request the functions look at is held in a closure
 * variable for the length of one evaluation.
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import { celEnvironment, CelRequest, expandCelPlaceholders, type CelMatcherFunctions, type StrMap } from '../../config/matchers/cel.ts';
import { tryPolicyOf } from '../../config/matchers/file.ts';
import { translateGoRegexp } from '../../util/go-regexp.ts';
import { compilePlaceholderValue } from '../../util/placeholders.ts';
import type { ExpressionRequestMatcher, RequestMatcher } from '../../config/types.ts';
import type { Req, RequestContext } from '../context.ts';
import { compileMatcher, type Match } from './index.ts';
import { protocolMatches } from './request.ts';

/** Enough for every constant argument list of an expression; beyond it (placeholder arguments), no caching. */
const MAX_CACHED = 256;

/** Placeholder names one CEL matcher keeps compiled (see `placeholder` below). */
const MAX_COMPILED_PLACEHOLDERS = 64;

/** `interpret`: always run the CEL library's interpreter (tests compare it with the compiled form). */
export function expression(m: ExpressionRequestMatcher, interpret = false): Match {
  let current: { req: Req; ctx: RequestContext } | undefined;
  const cache = new Map<string, Match>();
  const run = (key: string, make: () => RequestMatcher): boolean => {
    if (current === undefined) return false;
    let match = cache.get(key);
    if (match === undefined) {
      match = compileMatcher(make());
      if (cache.size < MAX_CACHED) cache.set(key, match);
    }
    return match(current.req, current.ctx);
  };
  const fns: CelMatcherFunctions = {
    list: (type, values) => run(`${type}\0${values.join('\0')}`, () => listMatcher(type, values)),
    protocol: (proto) => current !== undefined && protocolMatches(current.req, current.ctx.scheme, proto),
    pathRegexp: (name, re) => run(`path_regexp\0${name}\0${re}`, () => ({ type: 'path_regexp', name, ...goFlags(re) })),
    headerRegexp: (name, field, re) => run(`header_regexp\0${name}\0${field}\0${re}`, () => ({ type: 'header_regexp', fields: [{ field, name, ...goFlags(re) }] })),
    varsRegexp: (name, key, re) => run(`vars_regexp\0${name}\0${key}\0${re}`, () => ({ type: 'vars_regexp', vars: [{ key, name, ...goFlags(re) }] })),
    map: (type, map) =>
      run(`${type}\0${JSON.stringify(map)}`, (): RequestMatcher => {
        const entries = Object.entries(map);
        switch (type) {
          case 'header':
            return { type, fields: entries.map(([name, values]) => ({ name, values })) };
          case 'query':
            return { type, params: entries.map(([key, values]) => ({ key, values })) };
          case 'vars':
            return { type, vars: entries.map(([key, values]) => ({ key, values })) };
        }
      }),
    file: (map) => run(`file\0${JSON.stringify(map)}`, () => fileMatcher(map)),
  };
  const program = celEnvironment(fns, m.name).parse(expandCelPlaceholders(m.expr));
  // The interpreter asks for placeholders by name on every evaluation: each name is compiled once.
  // The names are the expression's own (its placeholders, as text), so a handful; a bound keeps an
  // expression that builds names from request data from growing the map.
  const compiled = new Map<string, ReturnType<typeof compilePlaceholderValue>>();
  const placeholder = (name: string): ReturnType<typeof compilePlaceholderValue> => {
    let f = compiled.get(name);
    if (f === undefined) {
      f = compilePlaceholderValue(name);
      if (compiled.size < MAX_COMPILED_PLACEHOLDERS) compiled.set(name, f);
    }
    return f;
  };
  const activation = { req: new CelRequest((name) => (current === undefined ? undefined : placeholder(name)(current.req, current.ctx))) };
  const interpreted: Match = (req, ctx) => {
    current = { req, ctx };
    try {
      return program(activation) === true;
    } catch {
      // Caddy logs the error and the expression does not match.
      return false;
    } finally {
      current = undefined;
    }
  };
  const fast = interpret ? undefined : compileFast(program.ast);
  if (fast === undefined) return interpreted;
  // The compiled form calls its matchers directly: no `current` to set.
  return (req, ctx) => {
    let r: Tri;
    try {
      r = fast(req, ctx);
    } catch {
      r = ERR;
    }
    return r === BAIL ? interpreted(req, ctx) : r === true;
  };
}

/**
 * The common expressions (`{path}.startsWith('/x') && method('GET')`, `!host('a') || {q} == 'b'`)
 * compiled to closures once per config, as CEL would evaluate them: the interpreter of the CEL
 * library type-dispatches every call at run time, which cost more than the other 19 matchers of
 * the issue-9 bench site together. Only a subset is compiled (logical operators, the list
 * matcher functions and protocol() with literal arguments, and a placeholder compared with or
 * tested against a string literal); anything else runs in the interpreter. Errors follow CEL's
 * commutative logic (`false && error` is false, `true || error` true; an error at the top does
 * not match, as Caddy's does not). A placeholder value whose CEL semantics the subset does not
 * model (an object) makes the whole expression run in the interpreter (BAIL): the matcher
 * functions of the subset have no side effects, so nothing is done twice.
 */
/** The matcher a list function (`path('/a', '/b')`, `remote_ip(…)`) stands for. */
function listMatcher(type: Parameters<CelMatcherFunctions['list']>[0], list: readonly string[]): RequestMatcher {
  const values = [...list];
  switch (type) {
    case 'path':
      return { type, paths: values };
    case 'host':
      return { type, hosts: values.map((h) => h.toLowerCase()) };
    case 'method':
      return { type, methods: values };
    case 'remote_ip':
      // Caddy 2.6: remote_ip('forwarded', …) reads X-Forwarded-For (checked at load: first only).
      return values[0] === 'forwarded' ? { type, ranges: values.slice(1), forwarded: true } : { type, ranges: values, forwarded: false };
    case 'client_ip':
      return { type, ranges: values };
  }
}

/** Whether the expression runs compiled (compileFast), without the interpreter. */
export function isCompiled(m: ExpressionRequestMatcher): boolean {
  const never = (): boolean => false;
  const fns: CelMatcherFunctions = { list: never, protocol: never, pathRegexp: never, headerRegexp: never, varsRegexp: never, map: never, file: never };
  return compileFast(celEnvironment(fns, m.name).parse(expandCelPlaceholders(m.expr)).ast) !== undefined;
}

const ERR = Symbol('error');
const BAIL = Symbol('bail');
type Tri = boolean | typeof ERR | typeof BAIL;
type Fast = (req: Req, ctx: RequestContext) => Tri;

const LIST_FUNCTIONS = new Set(['path', 'host', 'method', 'remote_ip', 'client_ip']);
const STRING_TESTS: Readonly<Record<string, (s: string, arg: string) => boolean>> = {
  startsWith: (s, a) => s.startsWith(a),
  endsWith: (s, a) => s.endsWith(a),
  contains: (s, a) => s.includes(a),
};

function literalString(n: ASTNode | undefined): string | undefined {
  return n !== undefined && n.op === 'value' && typeof n.args === 'string' ? n.args : undefined;
}

/** `ph(req, "name")`: the placeholder's name, else undefined. */
function placeholderName(n: ASTNode): string | undefined {
  if (n.op !== 'call' || n.args[0] !== 'ph') return undefined;
  const [req, name] = n.args[1];
  return req?.op === 'id' && req.args === 'req' && n.args[1].length === 2 ? literalString(name) : undefined;
}

function compileFast(n: ASTNode): Fast | undefined {
  switch (n.op) {
    case 'value':
      return typeof n.args === 'boolean' ? ((v: boolean) => () => v)(n.args) : undefined;
    case '!_': {
      const inner = compileFast(n.args);
      if (inner === undefined) return undefined;
      return (req, ctx) => {
        const v = inner(req, ctx);
        return typeof v === 'boolean' ? !v : v;
      };
    }
    case '&&':
    case '||': {
      const a = compileFast(n.args[0]);
      const b = compileFast(n.args[1]);
      if (a === undefined || b === undefined) return undefined;
      const absorbing = n.op === '||';
      return (req, ctx) => {
        const x = a(req, ctx);
        if (x === absorbing || x === BAIL) return x;
        const y = b(req, ctx);
        if (y === absorbing || y === BAIL) return y;
        return x === ERR ? ERR : y;
      };
    }
    case '==':
    case '!=': {
      const [l, r] = n.args;
      const name = placeholderName(l) ?? placeholderName(r);
      const lit = literalString(r) ?? literalString(l);
      if (name === undefined || lit === undefined) return undefined;
      const equal = n.op === '==';
      const value = compilePlaceholderValue(name);
      return (req, ctx) => {
        const v = value(req, ctx);
        if (typeof v === 'object' && v !== null) return BAIL;
        // CEL's heterogeneous equality: a value of another type (or none) is never equal.
        return (v === lit) === equal;
      };
    }
    case 'rcall': {
      const [method, recv, args] = n.args;
      const test = Object.hasOwn(STRING_TESTS, method) ? STRING_TESTS[method] : undefined;
      const name = placeholderName(recv);
      const arg = args.length === 1 ? literalString(args[0]) : undefined;
      if (test === undefined || name === undefined || arg === undefined) return undefined;
      const value = compilePlaceholderValue(name);
      return (req, ctx) => {
        const v = value(req, ctx);
        if (typeof v === 'string') return test(v, arg);
        // No such overload for null, numbers, booleans: an error in CEL.
        return typeof v === 'object' && v !== null ? BAIL : ERR;
      };
    }
    case 'call': {
      const [fn, args] = n.args;
      const values = args.map(literalString);
      if (values.some((v) => v === undefined) || values.length === 0) return undefined;
      const strings = values as string[];
      // Literal arguments: the matcher is built here, once, and called directly per request.
      if (LIST_FUNCTIONS.has(fn)) return compileMatcher(listMatcher(fn as Parameters<CelMatcherFunctions['list']>[0], strings));
      if (fn === 'protocol' && strings.length === 1) {
        const proto = (strings[0] as string).toLowerCase();
        return (req, ctx) => protocolMatches(req, ctx.scheme, proto);
      }
      return undefined;
    }
  }
  return undefined;
}

/** A regexp given to a CEL function at run time, translated as the config's are (util/go-regexp.ts). */
function goFlags(re: string): { pattern: string; flags: string } {
  const { source, flags } = translateGoRegexp(re);
  return { pattern: source, flags };
}

/**
 * A literal try_policy was checked when the config loaded (config/matchers/expression.ts); one
 * that comes from a placeholder and names no policy makes the matcher match nothing, as a bad
 * placeholder argument does elsewhere.
 */
function fileMatcher(map: StrMap): RequestMatcher {
  const policy = map['try_policy']?.[0];
  const tryPolicy = policy === undefined ? 'first_exist' : tryPolicyOf(policy);
  if (tryPolicy === undefined) return { type: 'not', sets: [{ matchers: [], pos: NOWHERE }] };
  const root = map['root']?.[0];
  const tryFiles = map['try_files'];
  return { type: 'file', ...(root !== undefined ? { root } : {}), ...(tryFiles !== undefined ? { tryFiles } : {}), tryPolicy, splitPath: map['split_path'] ?? [] };
}

const NOWHERE = { file: '', line: 0, col: 0 };
