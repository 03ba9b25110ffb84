/**
 * The answering directives beyond simple.ts's one-line forms (Caddy's staticresp.go and
 * httpcaddyfile/builtins.go parseRedir):
 *
 *     respond [MATCHER] [BODY|STATUS] [STATUS] {
 *         body TEXT
 *         close
 *     }
 *     redir [MATCHER] TO html
 *     error [MATCHER] [MESSAGE|STATUS] [STATUS] { message TEXT }
 *     abort [MATCHER]
 *
 * `respond` without arguments but with a block is accepted, as newer Caddy does (2.6.2 wants a
 * status or body on the line). `error` with one argument takes a three-digit number as the
 * status and anything else as the message (status 500), as StaticError does.
 */
import { configError, posOf } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { AbortRoute, ErrorRoute, RedirRoute, RespondRoute } from '../types.ts';
import { intArg } from '../values.ts';
import { argsOf, noBlock, Once, splitMatcher, withArgs } from './helpers.ts';
import { parseRedir, parseRespond } from './simple.ts';

/** `inErrors`: the directive is inside handle_errors, where a status left out means the error's. */
export function parseRespondDirective(node: Node, inErrors = false): RespondRoute {
  const route = parseRespond({ name: node.name, args: node.args });
  let { body, close } = { body: route.body, close: false };
  const once = new Once();
  for (const sub of node.block ?? []) {
    once.check(sub);
    noBlock(sub);
    if (sub.name.text === 'body') {
      if (body !== '') throw configError(sub.name, 'respond: the body is already given on the directive line');
      body = (argsOf(sub, 1, 1, 'body TEXT')[0] as Token).text;
    } else if (sub.name.text === 'close') {
      argsOf(sub, 0, 0, 'close');
      close = true;
    } else {
      throw configError(sub.name, `respond: unknown subdirective "${sub.name.text}" (use body or close)`);
    }
  }
  const { args } = splitMatcher(node);
  const written = args.length === 2 || (args.length === 1 && /^\d{3}$/.test((args[0] as Token).text));
  return { ...route, body, ...(close ? { close } : {}), ...(inErrors && !written ? { statusFromError: true } : {}) };
}

export function parseRedirDirective(node: Node): RedirRoute {
  // `html` is the status word only after a target: `redir /a html` redirects /a to "html", as in Caddy.
  const { args } = splitMatcher(node);
  if (args.at(-1)?.text !== 'html' || args.length < 2) return parseRedir(node);
  const route = parseRedir({ ...node, args: node.args.slice(0, -1) });
  return { ...route, status: 200, html: true };
}

export function parseError(node: Node): ErrorRoute {
  const usage = 'error [MATCHER] [MESSAGE] STATUS';
  const { matcher, args } = splitMatcher(node);
  const [first, second] = argsOf(withArgs(node, args), 0, 2, usage) as [Token | undefined, Token | undefined];
  let message = '';
  let status = 500;
  if (second !== undefined) {
    message = (first as Token).text;
    status = intArg(second, 400, 599, 'error status');
  } else if (first !== undefined) {
    if (/^\d{3}$/.test(first.text)) status = intArg(first, 400, 599, 'error status');
    else message = first.text;
  }
  const once = new Once();
  for (const sub of node.block ?? []) {
    once.check(sub);
    noBlock(sub);
    if (sub.name.text !== 'message') throw configError(sub.name, `error: unknown subdirective "${sub.name.text}" (use message)`);
    if (message !== '') throw configError(sub.name, 'error: the message is already given on the directive line');
    message = (argsOf(sub, 1, 1, 'message TEXT')[0] as Token).text;
  }
  if (first === undefined && message === '') throw configError(node.name, `error: missing argument (usage: ${usage})`);
  return { kind: 'error', pos: posOf(node.name), ...(matcher ? { matcher } : {}), status, message };
}

export function parseAbort(node: Node): AbortRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  argsOf(withArgs(node, args), 0, 0, 'abort [MATCHER]');
  return { kind: 'abort', pos: posOf(node.name), ...(matcher ? { matcher } : {}) };
}
