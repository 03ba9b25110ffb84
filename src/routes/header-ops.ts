import type { HeaderOp } from '../config/types.ts';
import { applyHeaderOps } from '../util/header-ops.ts';
import { expandPlaceholders, type Req, type RequestContext, type Res } from './context.ts';

/**
 * Applies `header` directive operations to a response's headers, with the one implementation
 * header_up and header_down use too (util/header-ops.ts: Caddy's wildcard rule). Placeholders are
 * the request's; unknown ones stay as written.
 */
export function applyResponseHeaderOps(res: Res, ops: readonly HeaderOp[], req: Req, ctx: RequestContext): void {
  applyHeaderOps(res, ops, (value) => expandPlaceholders(value, req, ctx));
}

type WriteHead = (statusCode: number, ...rest: unknown[]) => unknown;

/**
 * Run `fn` just before the response's head is sent, whoever sends it (the proxy, `respond`, an
 * implicit head from end()): both Node response classes call writeHead for implicit heads too.
 * Headers passed to writeHead itself are folded in first, so `fn` sees and can change them.
 */
export function beforeHead(res: Res, fn: () => void): void {
  const original = res.writeHead as unknown as WriteHead;
  let ran = false;
  const patched: WriteHead = function (this: Res, statusCode: number, ...rest: unknown[]) {
    if (!ran) {
      ran = true;
      const headersArg = rest.findIndex((a) => typeof a === 'object' && a !== null);
      if (headersArg >= 0) {
        const h = rest[headersArg] as Record<string, string | string[] | number> | string[];
        if (Array.isArray(h)) {
          for (let i = 0; i + 1 < h.length; i += 2) res.setHeader(h[i]!, h[i + 1]!);
        } else {
          for (const [k, v] of Object.entries(h)) if (v !== undefined) res.setHeader(k, v);
        }
        rest.splice(headersArg, 1);
      }
      res.statusCode = statusCode;
      fn();
    }
    return original.call(this, res.statusCode, ...rest);
  };
  (res as unknown as { writeHead: WriteHead }).writeHead = patched;
}
