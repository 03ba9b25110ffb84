/**
 * Matcher sets compiled once per config into predicates over a request (config/types.ts MatcherSet
 * has the semantics). One compiler per matcher type in COMPILERS; the config side's parsers are in
 * config/matchers/.
 */
import type { MatcherSet, RequestMatcher } from '../../config/types.ts';
import type { Req, RequestContext } from '../context.ts';
import { compilePathMatcher } from './path.ts';

/** True when the request matches. May record values for later handlers (regexp captures) in ctx. */
export type Match = (req: Req, ctx: RequestContext) => boolean;

type Compilers = { readonly [T in RequestMatcher['type']]: (m: Extract<RequestMatcher, { type: T }>) => Match };

const COMPILERS: Compilers = {
  path: (m) => {
    const tests = m.paths.map(compilePathMatcher);
    return (_req, ctx) => tests.some((t) => t(ctx.path));
  },
  host: (m) => {
    const tests = m.hosts.map(compileHostMatcher);
    return (_req, ctx) => tests.some((t) => t(ctx.host));
  },
  method: (m) => {
    const methods = new Set(m.methods);
    return (req) => methods.has(req.method ?? 'GET');
  },
  not: (m) => {
    const sets = m.sets.map(compileMatcherSet);
    return (req, ctx) => !sets.some((s) => s(req, ctx));
  },
};

export function compileMatcher(m: RequestMatcher): Match {
  return (COMPILERS[m.type] as (m: RequestMatcher) => Match)(m);
}

/** Every matcher of the set must match; an empty set matches every request. */
export function compileMatcherSet(set: MatcherSet): Match {
  const all = set.matchers.map(compileMatcher);
  if (all.length === 1) return all[0] as Match;
  return (req, ctx) => all.every((m) => m(req, ctx));
}

/**
 * Caddy's MatchHost: case-insensitive; a `*` label matches exactly one label (`*.example.com`
 * matches `a.example.com`, not `a.b.example.com` nor `example.com`).
 */
function compileHostMatcher(pattern: string): (host: string) => boolean {
  const p = pattern.toLowerCase();
  if (!p.includes('*')) return (host) => host === p;
  const labels = p.split('.');
  return (host) => {
    const h = host.split('.');
    return h.length === labels.length && labels.every((l, i) => l === '*' || l === h[i]);
  };
}
