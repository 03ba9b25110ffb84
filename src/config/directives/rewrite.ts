/**
 * The directives that change the request for what comes after them (Caddy's rewrite handler,
 * modules/caddyhttp/rewrite; Caddyfile forms from httpcaddyfile/builtins.go and rewrite/caddyfile.go):
 *
 *     rewrite [MATCHER] TO                 TO is [PATH][?QUERY]; a part left out is kept
 *     method [MATCHER] METHOD
 *     uri [MATCHER] strip_prefix PREFIX
 *     uri [MATCHER] strip_suffix SUFFIX
 *     uri [MATCHER] replace FIND REPLACE [LIMIT]
 *     uri [MATCHER] path_regexp REGEXP REPLACE
 *     uri [MATCHER] query [+|-]KEY [VALUE] | KEY>NEWKEY   (Caddy 2.8; one operation a line)
 *     uri [MATCHER] query { [+|-]KEY [VALUE] | KEY>NEWKEY … }
 */
import { configError, posOf } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { QueryOp, RewriteRoute } from '../types.ts';
import { intArg } from '../values.ts';
import { argsOf, headerOpLine, noBlock, splitMatcher, withArgs } from './helpers.ts';

export function parseRewrite(node: Node): RewriteRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  const [to] = argsOf(withArgs(node, args), 1, 1, 'rewrite [MATCHER] TO') as [Token];
  return { kind: 'rewrite', pos: posOf(node.name), ...(matcher ? { matcher } : {}), uri: to.text };
}

export function parseMethod(node: Node): RewriteRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  const [method] = argsOf(withArgs(node, args), 1, 1, 'method [MATCHER] METHOD') as [Token];
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method.text) && !method.text.includes('{')) {
    throw configError(method, `method: "${method.text}" is not a method name`);
  }
  return { kind: 'rewrite', directive: 'method', pos: posOf(node.name), ...(matcher ? { matcher } : {}), method: method.text.toUpperCase() };
}

const URI_USAGE = 'uri [MATCHER] strip_prefix|strip_suffix|replace|path_regexp|query ARGS…';

export function parseUri(node: Node): RewriteRoute {
  const { matcher, args } = splitMatcher(node);
  const [op, ...rest] = args;
  if (op === undefined) throw configError(node.name, `uri: missing argument (usage: ${URI_USAGE})`);
  const base = { kind: 'rewrite', directive: 'uri', pos: posOf(node.name), ...(matcher ? { matcher } : {}) } as const;
  const sub = withArgs(node, rest);
  if (op.text !== 'query') noBlock(node);
  switch (op.text) {
    case 'strip_prefix': {
      const [prefix] = argsOf(sub, 1, 1, 'uri [MATCHER] strip_prefix PREFIX') as [Token];
      // As Caddy: a prefix without its leading slash still means one.
      return { ...base, stripPrefix: prefix.text.startsWith('/') ? prefix.text : `/${prefix.text}` };
    }
    case 'strip_suffix': {
      const [suffix] = argsOf(sub, 1, 1, 'uri [MATCHER] strip_suffix SUFFIX') as [Token];
      return { ...base, stripSuffix: suffix.text };
    }
    case 'replace': {
      const [find, replace, limit] = argsOf(sub, 2, 3, 'uri [MATCHER] replace FIND REPLACE [LIMIT]') as [Token, Token, Token | undefined];
      if (find.text === '') throw configError(find, 'uri replace: FIND may not be empty');
      return { ...base, replace: { find: find.text, replace: replace.text, limit: limit === undefined ? 0 : intArg(limit, 0, 2 ** 31 - 1, 'limit') } };
    }
    case 'path_regexp': {
      const [find, replace] = argsOf(sub, 2, 2, 'uri [MATCHER] path_regexp REGEXP REPLACE') as [Token, Token];
      if (find.text === '') throw configError(find, 'uri path_regexp: REGEXP may not be empty');
      // The header replace grammar translates Go's regexp and replacement syntax the same way.
      const { op: translated } = headerOpLine({ name: node.name, args: [{ ...op, text: 'X' }, find, replace] }, 'uri [MATCHER] path_regexp REGEXP REPLACE', false);
      return { ...base, pathRegexp: { search: translated.search ?? '', flags: translated.searchFlags ?? '', replace: translated.replace ?? '' } };
    }
    case 'query': {
      const ops: QueryOp[] = [];
      if (rest.length > 0) ops.push(queryOp(rest));
      for (const line of node.block ?? []) {
        noBlock(line);
        ops.push(queryOp([line.name, ...line.args]));
      }
      if (ops.length === 0) throw configError(op, 'uri query: missing operation (usage: uri [MATCHER] query [+|-]KEY [VALUE] | KEY>NEWKEY)');
      return { ...base, query: ops };
    }
    default:
      throw configError(op, `uri: unknown operation "${op.text}" (usage: ${URI_USAGE})`);
  }
}

function queryOp(args: readonly Token[]): QueryOp {
  const [key, value, extra] = args as [Token, Token | undefined, Token | undefined];
  const usage = '[+|-]KEY [VALUE] | KEY>NEWKEY';
  if (extra !== undefined) throw configError(extra, `uri query: unexpected argument "${extra.text}" (usage: ${usage}; search and replace is not supported)`);
  if (key.text.startsWith('-')) {
    if (value !== undefined) throw configError(value, `uri query: a deleted key takes no value (usage: ${usage})`);
    return { op: 'delete', key: nonEmpty(key, key.text.slice(1)) };
  }
  if (key.text.startsWith('+')) return { op: 'add', key: nonEmpty(key, key.text.slice(1)), value: value?.text ?? '' };
  const arrow = key.text.indexOf('>');
  if (arrow > 0) {
    if (value !== undefined) throw configError(value, `uri query: a rename takes no value (usage: ${usage})`);
    return { op: 'rename', key: key.text.slice(0, arrow), value: nonEmpty(key, key.text.slice(arrow + 1)) };
  }
  return { op: 'set', key: nonEmpty(key, key.text), value: value?.text ?? '' };
}

function nonEmpty(tok: Token, key: string): string {
  if (key === '') throw configError(tok, 'uri query: empty key');
  return key;
}
