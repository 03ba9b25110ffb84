/**
 * Run-time halves of config/matchers/request.ts (Caddy's MatchHeader, MatchHeaderRE, MatchQuery,
 * MatchProtocol, VarsMatcher, MatchVarsRE, MatchPathRE).
 */
import type {
  HeaderRegexpRequestMatcher,
  HeaderRequestMatcher,
  PathRegexpRequestMatcher,
  QueryRequestMatcher,
  VarsRegexpRequestMatcher,
  VarsRequestMatcher,
} from '../../config/types.ts';
import type { Req, RequestContext } from '../context.ts';
import type { Match } from './index.ts';
import { compilePlaceholderValue, compileTemplate, placeholderText, type Template } from '../../util/placeholders.ts';
import { headerValues, headerValuesLower, parseGoQuery } from '../../util/request-fields.ts';
import { compileRegexp } from './regexp.ts';
import { headerValueMatches, headerValueTest } from '../../util/header-value-match.ts';

export function pathRegexp(m: PathRegexpRequestMatcher): Match {
  const test = compileRegexp(m.name, m.pattern, m.flags);
  return (_req, ctx) => test(ctx.path, ctx);
}

export function header(m: HeaderRequestMatcher): Match {
  // Allowed values with placeholders are compiled once and expanded per request (Caddy's
  // ReplaceAll); the others are compiled once to their test.
  const fields = m.fields.map(({ name, values }) => ({
    name: name.toLowerCase(),
    tests: values === null ? null : values.map((v) => (v.includes('{') ? expandedTest(compileTemplate(v, 'empty')) : headerValueTest(v))),
  }));
  return (req, ctx) => {
    for (const { name, tests } of fields) {
      const actual = headerValuesLower(req, name);
      // null: must be absent; []: must be present (CEL's header({'X': []})); else a value matches.
      if (tests === null) {
        if (actual.length > 0) return false;
      } else if (tests.length === 0) {
        if (actual.length === 0) return false;
      } else if (!anyMatches(actual, tests, req, ctx)) return false;
    }
    return true;
  };
}

type ValueTest = (actual: string, req: Req, ctx: RequestContext) => boolean;

/** An allowed value with placeholders: its expansion for this request, taken as a pattern. */
function expandedTest(allowed: Template): ValueTest {
  return (a, req, ctx) => headerValueMatches(a, allowed(req, ctx));
}

function anyMatches(actual: readonly string[], tests: readonly ValueTest[], req: Req, ctx: RequestContext): boolean {
  for (const a of actual) for (const t of tests) if (t(a, req, ctx)) return true;
  return false;
}

export function headerRegexp(m: HeaderRegexpRequestMatcher): Match {
  const tests = m.fields.map((f) => ({ field: f.field.toLowerCase(), test: compileRegexp(f.name, f.pattern, f.flags) }));
  return (req, ctx) => {
    for (const { field, test } of tests) {
      let matched = false;
      for (const v of headerValuesLower(req, field)) {
        if (test(v, ctx)) {
          matched = true;
          break;
        }
      }
      if (!matched) return false;
    }
    return true;
  };
}

export function query(m: QueryRequestMatcher): Match {
  const params = m.params.map(({ key, values }) => ({
    key: compileTemplate(key, 'empty'),
    values: values.map((v) => (v === '*' ? undefined : compileTemplate(v, 'empty'))),
  }));
  const keys = m.params.map((p) => p.key);
  const match: Match = (req, ctx) => {
    const parsed = parseGoQuery(ctx.query);
    if (params.length === 0) return parsed.values.size === 0;
    if (!parsed.ok) return false;
    for (const { key, values } of params) {
      const actual = parsed.values.get(key(req, ctx));
      if (actual === undefined) return false;
      if (!values.some((v) => v === undefined || actual.includes(v(req, ctx)))) return false;
    }
    return true;
  };
  if (keys.length === 0 || keys.some((k) => k.includes('{') || k === '')) return match;
  return (req, ctx) => {
    // Without escapes the raw query holds every key as written: a key not in it is absent, and
    // most requests are told apart without parsing.
    const raw = ctx.query;
    if (!raw.includes('%') && !raw.includes('+') && keys.some((k) => !raw.includes(k))) return false;
    return match(req, ctx);
  };
}

export function protocolMatches(req: Req, scheme: string, proto: string): boolean {
  const major = req.httpVersionMajor;
  const minor = req.httpVersionMinor;
  const atLeast = (ma: number, mi: number): boolean => major > ma || (major === ma && minor >= mi);
  switch (proto) {
    case 'grpc':
      return (headerValues(req, 'content-type')[0] ?? '').startsWith('application/grpc');
    case 'https':
      return scheme === 'https';
    case 'http':
      return scheme === 'http';
    case 'http/1.0':
      return major === 1 && minor === 0;
    case 'http/1.0+':
      return atLeast(1, 0);
    case 'http/1.1':
      return major === 1 && minor === 1;
    case 'http/1.1+':
      return atLeast(1, 1);
    case 'http/2':
      return major === 2;
    case 'http/2+':
      return atLeast(2, 0);
    case 'http/3':
      return major === 3;
    case 'http/3+':
      return atLeast(3, 0);
  }
  return false;
}

export function vars(m: VarsRequestMatcher): Match {
  const entries = m.vars.map(({ key, values }) => ({
    read: varReader(key),
    values,
    templates: values.some((v) => v.includes('{')) ? values.map((v) => compileTemplate(v, 'empty')) : undefined,
  }));
  if (entries.length === 0) return () => true;
  // Caddy ORs the keys (VarsMatcher.MatchWithError returns on the first key that matches).
  return (req, ctx) => {
    for (const { read, values, templates } of entries) {
      const actual = read(req, ctx);
      if (templates === undefined ? values.includes(actual) : templates.some((v) => v(req, ctx) === actual)) return true;
    }
    return false;
  };
}

/** A vars key: `{placeholder}` (one pair of braces around it, Caddy's repl.Get) or a variable name. */
function varReader(key: string): (req: Req, ctx: RequestContext) => string {
  const isPlaceholder = key.startsWith('{') && key.endsWith('}') && key.split('{').length === 2;
  if (!isPlaceholder) return (_req, ctx) => placeholderText(ctx.vars?.get(key));
  const value = compilePlaceholderValue(key.slice(1, -1));
  return (req, ctx) => placeholderText(value(req, ctx));
}

export function varsRegexp(m: VarsRegexpRequestMatcher): Match {
  const tests = m.vars.map((v) => ({ read: varReader(v.key), test: compileRegexp(v.name, v.pattern, v.flags) }));
  return (req, ctx) => {
    for (const { read, test } of tests) if (test(read(req, ctx), ctx)) return true;
    return false;
  };
}
