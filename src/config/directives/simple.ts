/**
 * Small site directives:
 *
 *     redir [MATCHER] TO [301|302|303|307|308|permanent|temporary|3xx|401]
 *     respond [MATCHER] [BODY|STATUS] [STATUS]
 *     header [MATCHER] [+|-|?|>]NAME [VALUE|SEARCH] [REPLACE] | header [MATCHER] { … defer } (see parseHeader)
 *     encode [MATCHER] [zstd|gzip...]

 *
 * MATCHER is `*` or a path such as `/api/*`. `respond` with one three-digit argument takes it as
 * the status, as the Caddyfile does; `encode` without formats means `zstd gzip`.
 */
import { configError, posOf } from '../errors.ts';
import { ENCODE_DEFAULTS, REDIR_DEFAULT_STATUS, RESPOND_DEFAULT_STATUS } from '../defaults.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { EncodeRoute, HeaderOp, HeaderRoute, RedirRoute, RespondRoute } from '../types.ts';
import { intArg } from '../values.ts';
import { argsOf, headerOpLine, noBlock, splitMatcher, withArgs } from './helpers.ts';

export function parseRedir(node: Node): RedirRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  const [to, code] = argsOf(withArgs(node, args), 1, 2, 'redir [MATCHER] TO [CODE]') as [Token, Token | undefined];
  let status: number = REDIR_DEFAULT_STATUS;
  if (code !== undefined) {
    if (code.text === 'permanent') status = 301;
    else if (code.text === 'temporary') status = 302;
    else if (code.text === 'html') throw configError(code, 'redir: "html" redirects are not supported');
    else {
      status = Number(code.text);
      if (!/^\d{3}$/.test(code.text) || !((status >= 300 && status <= 399) || status === 401)) {
        throw configError(code, `invalid redirect status "${code.text}": use a 3xx code, 401, permanent or temporary`);
      }
    }
  }
  return { kind: 'redir', pos: posOf(node.name), ...(matcher ? { matcher } : {}), to: to.text, status };
}

export function parseRespond(node: Node): RespondRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  const [first, second] = argsOf(withArgs(node, args), 0, 2, 'respond [MATCHER] [BODY] [STATUS]');
  let body = '';
  let status: number = RESPOND_DEFAULT_STATUS;
  let statusTemplate: string | undefined;
  if (second !== undefined) {
    body = (first as Token).text;
    // `respond "…" {err.status_code}` in handle_errors: read per request (Caddy's WeakString).
    if (second.text.includes('{')) statusTemplate = second.text;
    else status = intArg(second, 100, 999, 'status code');
  } else if (first !== undefined) {
    if (/^\d{3}$/.test(first.text) && Number(first.text) >= 100) status = Number(first.text);
    else body = first.text;
  }
  return { kind: 'respond', pos: posOf(node.name), ...(matcher ? { matcher } : {}), body, status, ...(statusTemplate !== undefined ? { statusTemplate } : {}) };
}

/**
 * `header` (Caddy's headers/caddyfile.go parseCaddyfile); each line's grammar is headerOpLine's:
 *
 *     header [MATCHER] [+|-|?|>]NAME [VALUE|SEARCH] [REPLACE]
 *     header [MATCHER] {
 *         [+|-|?|>]NAME [VALUE|SEARCH] [REPLACE]
 *         defer
 *     }
 *
 * A directive that deletes, sets a default or uses `>`/`defer` is deferred in Caddy (applied when
 * the response head is written). Ours are all applied then, deferred or not, so that they also
 * win over what an upstream sent; `deferred` is kept as Caddy would decide it.
 */
export function parseHeader(node: Node): HeaderRoute {
  const { matcher, args } = splitMatcher(node);
  const ops: HeaderOp[] = [];
  let deferred = false;
  const usage = 'header [MATCHER] [+|-|?|>]NAME [VALUE|SEARCH] [REPLACE]';
  if (args.length > 0) {
    const line = headerOpLine(withArgs(node, args), usage, true);
    ops.push(line.op);
    deferred ||= line.defers;
  }
  for (const sub of node.block ?? []) {
    noBlock(sub);
    if (sub.name.text === 'defer') {
      argsOf(sub, 0, 0, 'defer');
      deferred = true;
      continue;
    }
    if (args.length > 0) throw configError(node.open ?? sub.name, 'header: give one header on the line or a block of them, not both');
    // Caddy drops a trailing colon, as in `Content-Type: text/plain` copied from curl output.
    const name = { ...sub.name, text: sub.name.text.endsWith(':') ? sub.name.text.slice(0, -1) : sub.name.text };
    const line = headerOpLine({ name: node.name, args: [name, ...sub.args] }, 'header { [+|-|?|>]NAME [VALUE|SEARCH] [REPLACE] }', true);
    ops.push(line.op);
    deferred ||= line.defers;
  }
  if (ops.length === 0) throw configError(node.name, `header: missing argument (usage: ${usage})`);
  return {
    kind: 'header',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    ops: applicationOrder(ops),
    deferred,
  };
}

/**
 * The order Caddy applies one directive's header operations in, whatever order they were written
 * (headers.go HeaderOps.ApplyTo): delete-all (`-*`), adds, sets (defaults with them, in the order
 * written), other deletes, replaces. Listing them that way lets the runtime apply them one after
 * the other; the sort is stable, so several `+NAME` lines keep the order written.
 */
export function applicationOrder(ops: readonly HeaderOp[]): HeaderOp[] {
  const rank = (op: HeaderOp): number =>
    op.op === 'delete' && op.name === '*'
      ? 0
      : op.op === 'add'
        ? 1
        : op.op === 'set' || op.op === 'default'
          ? 2
          : op.op === 'delete'
            ? 3
            : 4;
  return [...ops].sort((a, b) => rank(a) - rank(b));
}

export function parseEncode(node: Node): EncodeRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  const encodings: ('zstd' | 'gzip')[] = [];
  for (const tok of args) {
    if (tok.text !== 'zstd' && tok.text !== 'gzip') throw configError(tok, `encode: unsupported encoding "${tok.text}" (use zstd or gzip)`);
    if (encodings.includes(tok.text)) throw configError(tok, `encode: "${tok.text}" is listed twice`);
    encodings.push(tok.text);
  }
  return {
    kind: 'encode',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    encodings: encodings.length > 0 ? encodings : [...ENCODE_DEFAULTS],
  };
}
