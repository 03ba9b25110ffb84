/**
 * Matcher sets compiled once per config into predicates over a request (config/types.ts MatcherSet
 * has the semantics). One compiler per matcher type in COMPILERS; the config side's parsers are in
 * config/matchers/.
 */
import type { MatcherSet, RequestMatcher } from '../../config/types.ts';
import { compileTemplate } from '../../util/placeholders.ts';
import type { Req, RequestContext } from '../context.ts';
import { expression } from './expression.ts';
import { file } from './file.ts';
import { clientIp, remoteIp } from './ip.ts';
import { compilePathMatcher, decodedPathOf, escapedPathOf, type PathTest } from './path.ts';
import { header, headerRegexp, pathRegexp, protocolMatches, query, vars, varsRegexp } from './request.ts';

/** True when the request matches. May record values for later handlers (regexp captures) in ctx. */
export type Match = (req: Req, ctx: RequestContext) => boolean;

type Compilers = { readonly [T in RequestMatcher['type']]: (m: Extract<RequestMatcher, { type: T }>) => Match };

const COMPILERS: Compilers = {
  path: (m) => {
    const tests = m.paths.map(compilePathPattern);
    const escaped = m.paths.some((p) => p.includes('%'));
    if (tests.length === 1 && !escaped) {
      const only = tests[0] as (req: Req, ctx: RequestContext, escaped: string | undefined) => boolean;
      return (req, ctx) => only(req, ctx, undefined);
    }
    return (req, ctx) => {
      const e = escaped ? escapedPathOf(req, ctx) : undefined;
      for (const t of tests) if (t(req, ctx, e)) return true;
      return false;
    };
  },
  host: (m) => {
    const tests = m.hosts.map(compileHostMatcher);
    return (req, ctx) => {
      for (const t of tests) if (t(ctx.host, req, ctx)) return true;
      return false;
    };
  },
  method: (m) => {
    const methods = new Set(m.methods);
    return (req) => methods.has(req.method ?? 'GET');
  },
  not: (m) => {
    const sets = m.sets.map(compileMatcherSet);
    return (req, ctx) => {
      for (const s of sets) if (s(req, ctx)) return false;
      return true;
    };
  },
  path_regexp: pathRegexp,
  header,
  header_regexp: headerRegexp,
  query,
  protocol: (m) => (req, ctx) => protocolMatches(req, ctx.scheme, m.protocol),
  remote_ip: remoteIp,
  client_ip: clientIp,
  vars,
  vars_regexp: varsRegexp,
  file,
  expression,
};

export function compileMatcher(m: RequestMatcher): Match {
  return (COMPILERS[m.type] as (m: RequestMatcher) => Match)(m);
}

/** Every matcher of the set must match; an empty set matches every request. */
export function compileMatcherSet(set: MatcherSet): Match {
  const all = set.matchers.map(compileMatcher);
  if (all.length === 1) return all[0] as Match;
  // A loop, not every(): no closure allocated per request on the hot path.
  return (req, ctx) => {
    for (const m of all) if (!m(req, ctx)) return false;
    return true;
  };
}

/**
 * A path pattern; one with placeholders (Caddy expands them per request) is compiled per request
 * from its expansion, the rest once.
 */
function compilePathPattern(pattern: string): (req: Req, ctx: RequestContext, escaped: string | undefined) => boolean {
  if (!pattern.includes('{')) {
    // A `//` pattern keeps empty segments, which the cleaned ctx.path has already merged.
    if (pattern.includes('//')) {
      const raw: PathTest = compilePathMatcher(pattern);
      return (req, ctx, escaped) => raw(decodedPathOf(req, ctx), escaped);
    }
    const test: PathTest = compilePathMatcher(pattern, true);
    return (_req, ctx, escaped) => test(ctx.path, escaped);
  }
  const expand = compileTemplate(pattern.toLowerCase(), 'empty');
  return (req, ctx, escaped) => compilePathMatcher(expand(req, ctx), true)(ctx.path, escaped ?? escapedPathOf(req, ctx));
}

/**
 * Caddy's MatchHost: case-insensitive; a `*` label matches exactly one label (`*.example.com`
 * matches `a.example.com`, not `a.b.example.com` nor `example.com`). Placeholders are expanded
 * per request.
 */
function compileHostMatcher(pattern: string): (host: string, req: Req, ctx: RequestContext) => boolean {
  // The expansion is matched as it is: expanding again would let request data name placeholders.
  if (pattern.includes('{')) {
    const expand = compileTemplate(pattern, 'empty');
    return (host, req, ctx) => hostTest(expand(req, ctx))(host);
  }
  return hostTest(pattern);
}

function hostTest(pattern: string): (host: string) => boolean {
  const p = pattern.toLowerCase();
  if (!p.includes('*')) return (host) => host === p;
  const labels = p.split('.');
  return (host) => {
    const h = host.split('.');
    return h.length === labels.length && labels.every((l, i) => l === '*' || l === h[i]);
  };
}
