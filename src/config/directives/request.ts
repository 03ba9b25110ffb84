/**
 * Directives on the request itself, and `metrics` (Caddy's httpcaddyfile/builtins.go,
 * requestbody/caddyfile.go, metrics.go):
 *
 *     request_header [MATCHER] [+|-]NAME [VALUE|SEARCH] [REPLACE]
 *     request_body [MATCHER] { max_size SIZE }
 *     metrics [MATCHER] { disable_openmetrics }
 *
 * SIZE is bytes or go-humanize units (`10MB` = 10,000,000; `1MiB` = 1,048,576). `metrics` takes
 * the path as its matcher, as Caddy's does (`metrics /metrics`); without one it answers every
 * request that reaches it.
 */
import { configError, posOf } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { MetricsRoute, RequestBodyRoute, RequestHeaderRoute } from '../types.ts';
import { argsOf, headerOpLine, noBlock, Once, oneArg, splitMatcher, withArgs } from './helpers.ts';

export function parseRequestHeader(node: Node): RequestHeaderRoute {
  noBlock(node);
  const usage = 'request_header [MATCHER] [+|-]NAME [VALUE|SEARCH] [REPLACE]';
  const { matcher, args } = splitMatcher(node);
  const [field] = argsOf(withArgs(node, args), 1, 3, usage) as [Token];
  if (field.text.startsWith('>')) throw configError(field, `request_header: ">NAME" defers response headers only (usage: ${usage})`);
  // Caddy drops a trailing colon, as in `X-Name: value` copied from curl output.
  const name = { ...field, text: field.text.endsWith(':') ? field.text.slice(0, -1) : field.text };
  const { op } = headerOpLine({ name: node.name, args: [name, ...args.slice(1)] }, usage, false);
  return { kind: 'request_header', pos: posOf(node.name), ...(matcher ? { matcher } : {}), ops: [op] };
}

export function parseRequestBody(node: Node): RequestBodyRoute {
  const usage = 'request_body [MATCHER] { max_size SIZE }';
  const { matcher, args } = splitMatcher(node);
  argsOf(withArgs(node, args), 0, 0, usage);
  let maxSize: number | undefined;
  const once = new Once();
  for (const sub of node.block ?? []) {
    once.check(sub);
    noBlock(sub);
    if (sub.name.text !== 'max_size') throw configError(sub.name, `request_body: unknown subdirective "${sub.name.text}" (usage: ${usage})`);
    maxSize = sizeArg(oneArg(sub, 'max_size SIZE'));
  }
  return { kind: 'request_body', pos: posOf(node.name), ...(matcher ? { matcher } : {}), ...(maxSize !== undefined ? { maxSize } : {}) };
}

export function parseMetrics(node: Node): MetricsRoute {
  const usage = 'metrics [MATCHER] { disable_openmetrics }';
  const { matcher, args } = splitMatcher(node);
  argsOf(withArgs(node, args), 0, 0, usage);
  let disableOpenMetrics = false;
  const once = new Once();
  for (const sub of node.block ?? []) {
    once.check(sub);
    noBlock(sub);
    if (sub.name.text !== 'disable_openmetrics') throw configError(sub.name, `metrics: unknown subdirective "${sub.name.text}" (usage: ${usage})`);
    argsOf(sub, 0, 0, 'disable_openmetrics');
    disableOpenMetrics = true;
  }
  return { kind: 'metrics', pos: posOf(node.name), ...(matcher ? { matcher } : {}), disableOpenMetrics };
}

/** go-humanize ParseBytes units, as Caddy reads sizes: SI and IEC. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, ki: 1024, kib: 1024,
  m: 1e6, mb: 1e6, mi: 1024 ** 2, mib: 1024 ** 2,
  g: 1e9, gb: 1e9, gi: 1024 ** 3, gib: 1024 ** 3,
  t: 1e12, tb: 1e12, ti: 1024 ** 4, tib: 1024 ** 4,
};

function sizeArg(tok: Token): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(tok.text);
  const unit = m === null ? undefined : SIZE_UNITS[(m[2] as string).toLowerCase()];
  if (m === null || unit === undefined) throw configError(tok, `max_size: invalid size "${tok.text}" (use bytes, or a unit as in 10MB or 1MiB)`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1) throw configError(tok, `max_size: invalid size "${tok.text}": must be greater than zero`);
  if (!Number.isSafeInteger(bytes)) throw configError(tok, `max_size: invalid size "${tok.text}": too large`);
  return bytes;
}
