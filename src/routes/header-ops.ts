import type { HeaderOp } from '../config/types.ts';
import { applyHeaderOps } from '../util/header-ops.ts';
import { expandPlaceholders, type Req, type RequestContext, type Res } from './context.ts';

/**
 * Applies `header` directive operations to a response's headers, with the one implementation
 * header_up and header_down use too (util/header-ops.ts: Caddy's wildcard rule). Placeholders are
 * the request's; unknown ones stay as written.
 *
 * Called from an onHead hook, and response hooks run innermost first: the directive written last
 * is applied first. Caddy applies a directive that is not deferred when the request passes it, in
 * the order written (two `header +X-Multi` lines give `a, b`), and the deferred ones when the head
 * is written, innermost first (an outer `header -X` removes what an inner `header X 1` set). Ours
 * all apply at head time, so they also win over an upstream's fields; to keep Caddy's order, the
 * directives of one response replay: each call restores the fields as they were before the first
 * call of this head, then applies the non-deferred directives seen so far in the order written,
 * then the deferred ones innermost first. When another hook (encode) changed the fields between
 * two calls, a replay would undo its work, so the call applies its ops on top instead.
 *
 * `deferred` is the route's (HeaderRoute.deferred); without it, a directive counts as deferred
 * when it deletes or sets a default, which misses only `>NAME` and `defer`.
 */
export function applyResponseHeaderOps(
  res: Res,
  ops: readonly HeaderOp[],
  req: Req,
  ctx: RequestContext,
  deferred = ops.some((op) => op.op === 'delete' || op.op === 'default'),
): void {
  const expand = (value: string): string => expandPlaceholders(value, req, ctx);
  const holder = res as unknown as { [REPLAY]?: Replay };
  let replay = holder[REPLAY];
  if (replay !== undefined && sameFields(res, replay.produced)) {
    restore(res, replay.before);
    // Calls arrive in reverse written order.
    (deferred ? replay.deferred : replay.immediate).unshift({ ops, expand });
    for (const l of replay.immediate) applyHeaderOps(res, l.ops, l.expand);
    for (let i = replay.deferred.length - 1; i >= 0; i--) applyHeaderOps(res, replay.deferred[i]!.ops, replay.deferred[i]!.expand);
  } else {
    const list = [{ ops, expand }];
    replay = { before: snapshot(res), immediate: deferred ? [] : list, deferred: deferred ? list : [], produced: [] };
    holder[REPLAY] = replay;
    applyHeaderOps(res, ops, expand);
  }
  replay.produced = snapshot(res);
}

/** Where a response keeps its replay state: on the response itself, so nothing outlives it. */
const REPLAY = Symbol('my-server.header-ops-replay');

interface Applied {
  readonly ops: readonly HeaderOp[];
  readonly expand: (value: string) => string;
}

type Field = readonly [name: string, value: number | string | string[]];

interface Replay {
  /** The fields before the first `header` directive of this head ran. */
  readonly before: readonly Field[];
  /** The directives applied so far, each kind in the order written. */
  readonly immediate: Applied[];
  readonly deferred: Applied[];
  /** The fields as the last call left them. */
  produced: readonly Field[];
}

function snapshot(res: Res): Field[] {
  // Raw names keep the case the handler wrote (HTTP/1.1 sends it); HTTP/2 has lower case only.
  const raw = (res as { getRawHeaderNames?: () => string[] }).getRawHeaderNames;
  const names = raw !== undefined ? raw.call(res) : res.getHeaderNames();
  const out: Field[] = [];
  for (const name of names) {
    const value = res.getHeader(name);
    if (value !== undefined) out.push([name, Array.isArray(value) ? [...value] : value]);
  }
  return out;
}

function sameFields(res: Res, fields: readonly Field[]): boolean {
  if (res.getHeaderNames().length !== fields.length) return false;
  for (const [name, value] of fields) {
    const now = res.getHeader(name);
    if (Array.isArray(value)) {
      if (!Array.isArray(now) || now.length !== value.length || now.some((v, i) => v !== value[i])) return false;
    } else if (now !== value) return false;
  }
  return true;
}

function restore(res: Res, fields: readonly Field[]): void {
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  for (const [name, value] of fields) res.setHeader(name, Array.isArray(value) ? [...value] : value);
}
