/**
 * Run-time expression matcher: the CEL program is parsed once per config (the config loader has
 * already type-checked it). Matcher functions in it build the same compiled matchers as the
 * Caddyfile forms, once per distinct argument list (arguments are nearly always constants).
 * The program runs synchronously, so the request the functions look at is held in a closure
 * variable for the length of one evaluation.
 */
import { celEnvironment, CelRequest, expandCelPlaceholders, type CelMatcherFunctions, type StrMap } from '../../config/matchers/cel.ts';
import { translateGoRegexp } from '../../util/go-regexp.ts';
import type { ExpressionRequestMatcher, RequestMatcher } from '../../config/types.ts';
import type { Req, RequestContext } from '../context.ts';
import { compileMatcher, type Match } from './index.ts';
import { placeholderValue } from './placeholders.ts';
import { protocolMatches } from './request.ts';

/** Enough for every constant argument list of an expression; beyond it (placeholder arguments), no caching. */
const MAX_CACHED = 256;

export function expression(m: ExpressionRequestMatcher): Match {
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
    list: (type, values) =>
      run(`${type}\0${values.join('\0')}`, (): RequestMatcher => {
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
      }),
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
  const activation = { req: new CelRequest((name) => (current === undefined ? undefined : placeholderValue(name, current.req, current.ctx))) };
  return (req, ctx) => {
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
}

/** A regexp given to a CEL function at run time, translated as the config's are (util/go-regexp.ts). */
function goFlags(re: string): { pattern: string; flags: string } {
  const { source, flags } = translateGoRegexp(re);
  return { pattern: source, flags };
}

const TRY_POLICIES = ['first_exist', 'first_exist_fallback', 'smallest_size', 'largest_size', 'most_recently_modified'] as const;

function fileMatcher(map: StrMap): RequestMatcher {
  const policy = map['try_policy']?.[0];
  const tryPolicy = TRY_POLICIES.find((p) => p === policy) ?? 'first_exist';
  const root = map['root']?.[0];
  const tryFiles = map['try_files'];
  return { type: 'file', ...(root !== undefined ? { root } : {}), ...(tryFiles !== undefined ? { tryFiles } : {}), tryPolicy, splitPath: map['split_path'] ?? [] };
}
