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
