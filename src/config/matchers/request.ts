/**
 * Parsers of the matchers that look at the request line and headers, with Caddy's Caddyfile
 * syntax and merging rules (modules/caddyhttp/matchers.go, vars.go):
 *
 *     path_regexp [NAME] REGEXP          once per set
 *     header [!]FIELD [VALUE]            `!FIELD`: absent; VALUE with `*` globs; lines of one field OR
 *     header_regexp [NAME] FIELD REGEXP  once per field per set
 *     query [KEY=VALUE…]                 several values of one key OR; no pairs: no query at all
 *     protocol http|https|grpc|http/1.0|http/1.1|http/2|http/3[+]
 *     vars NAME|{placeholder} VALUES…
 *     vars_regexp [NAME] NAME|{placeholder} REGEXP
 *
 * A regexp's NAME defaults to the set's name, as Caddy's MatcherNameCtxKey does.
 */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type {
  HeaderRegexpRequestMatcher,
  HeaderRequestMatcher,
  PathRegexpRequestMatcher,
  ProtocolRequestMatcher,
  QueryRequestMatcher,
  VarsRegexpRequestMatcher,
  VarsRequestMatcher,
} from '../types.ts';
import { argsOf, noBlock } from '../directives/helpers.ts';
import type { MatcherLines } from './index.ts';
import { goRegexpPattern, regexpName } from './regexp.ts';

export function pathRegexp({ lines, setName }: MatcherLines): PathRegexpRequestMatcher {
  const [line, second] = lines as [Node, ...Node[]];
  if (second !== undefined) throw configError(second.name, 'path_regexp: a regular expression can only be used once per named matcher');
  noBlock(line);
  const args = argsOf(line, 1, 2, 'path_regexp [NAME] REGEXP');
  const name = args.length === 2 ? regexpName(args[0] as Token, 'path_regexp') : setName;
  return { type: 'path_regexp', name, ...goRegexpPattern(args[args.length - 1] as Token, 'path_regexp') };
}

export function header({ lines }: MatcherLines): HeaderRequestMatcher {
  const fields = new Map<string, { name: string; values: string[] | null }>();
  for (const line of lines) {
    noBlock(line);
    const args = argsOf(line, 1, 2, 'header [!]FIELD [VALUE]');
    const field = args[0] as Token;
    const value = args[1];
    if (field.text.startsWith('!')) {
      if (field.text.length === 1) throw configError(field, 'header: must have a field name after the ! character');
      if (value !== undefined) throw configError(value, 'header: a field that must be absent (!FIELD) cannot have a value');
      const name = field.text.slice(1);
      fields.set(name.toLowerCase(), { name, values: null });
      continue;
    }
    if (value === undefined) throw configError(field, `header: expected both field and value (presence: header ${field.text} *; absence: header !${field.text})`);
    const key = field.text.toLowerCase();
    const known = fields.get(key);
    if (known?.values) known.values.push(value.text);
    else fields.set(key, { name: field.text, values: [value.text] });
  }
  return { type: 'header', fields: [...fields.values()] };
}

export function headerRegexp({ lines, setName }: MatcherLines): HeaderRegexpRequestMatcher {
  const fields: HeaderRegexpRequestMatcher['fields'][number][] = [];
  for (const line of lines) {
    noBlock(line);
    const args = argsOf(line, 2, 3, 'header_regexp [NAME] FIELD REGEXP');
    const [name, field, re] = args.length === 3 ? [regexpName(args[0] as Token, 'header_regexp'), args[1] as Token, args[2] as Token] : [setName, args[0] as Token, args[1] as Token];
    if (fields.some((f) => f.field.toLowerCase() === field.text.toLowerCase())) {
      throw configError(field, `header_regexp: can only be used once per named matcher, per header field: ${field.text}`);
    }
    fields.push({ field: field.text, name, ...goRegexpPattern(re, 'header_regexp') });
  }
  return { type: 'header_regexp', fields };
}

export function query({ lines }: MatcherLines): QueryRequestMatcher {
  const params = new Map<string, string[]>();
  for (const line of lines) {
    noBlock(line);
    for (const tok of line.args) {
      if (tok.text === '') continue;
      const eq = tok.text.indexOf('=');
      if (eq < 0) throw configError(tok, `query: malformed query matcher token "${tok.text}"; must be in param=val format`);
      const key = tok.text.slice(0, eq);
      const values = params.get(key);
      if (values === undefined) params.set(key, [tok.text.slice(eq + 1)]);
      else values.push(tok.text.slice(eq + 1));
    }
  }
  return { type: 'query', params: [...params].map(([key, values]) => ({ key, values })) };
}

const PROTOCOLS = new Set(['http', 'https', 'grpc', 'http/1.0', 'http/1.0+', 'http/1.1', 'http/1.1+', 'http/2', 'http/2+', 'http/3', 'http/3+']);

export function protocol({ lines }: MatcherLines): ProtocolRequestMatcher {
  // Several lines: the last one counts, as in Caddy's MatchProtocol.UnmarshalCaddyfile.
  let proto = '';
  for (const line of lines) {
    noBlock(line);
    const tok = argsOf(line, 1, 1, 'protocol http|https|grpc|http/1.0|http/1.1|http/2|http/3[+]')[0] as Token;
    // Caddy accepts any word here and then never matches it; a typo deserves an error instead.
    if (!PROTOCOLS.has(tok.text.toLowerCase())) throw configError(tok, `protocol: unknown protocol "${tok.text}" (one of ${[...PROTOCOLS].join(', ')})`);
    proto = tok.text.toLowerCase();
  }
  return { type: 'protocol', protocol: proto };
}

export function vars({ lines }: MatcherLines): VarsRequestMatcher {
  const keys = new Map<string, string[]>();
  for (const line of lines) {
    noBlock(line);
    const args = argsOf(line, 2, Infinity, 'vars NAME|{placeholder} VALUES…');
    const key = (args[0] as Token).text;
    const values = args.slice(1).map((t) => t.text);
    keys.set(key, [...(keys.get(key) ?? []), ...values]);
  }
  return { type: 'vars', vars: [...keys].map(([key, values]) => ({ key, values })) };
}

export function varsRegexp({ lines, setName }: MatcherLines): VarsRegexpRequestMatcher {
  const keys = new Map<string, VarsRegexpRequestMatcher['vars'][number]>();
  for (const line of lines) {
    noBlock(line);
    const args = argsOf(line, 2, 3, 'vars_regexp [NAME] NAME|{placeholder} REGEXP');
    const [name, key, re] = args.length === 3 ? [regexpName(args[0] as Token, 'vars_regexp'), args[1] as Token, args[2] as Token] : [setName, args[0] as Token, args[1] as Token];
    // A second line for the same key replaces the first, as Caddy's map assignment does.
    keys.set(key.text, { key: key.text, name, ...goRegexpPattern(re, 'vars_regexp') });
  }
  return { type: 'vars_regexp', vars: [...keys.values()] };
}
