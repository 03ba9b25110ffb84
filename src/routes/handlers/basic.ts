/** The small handlers: respond, redir, header, encode. */
import type { EncodeRoute, HeaderRoute, RedirRoute, RespondRoute } from '../../config/types.ts';
import { responseHooks } from '../../http/response-hooks.ts';
import { expandPlaceholders } from '../context.ts';
import { encodeResponse } from '../encode.ts';
import { applyResponseHeaderOps } from '../header-ops.ts';
import type { HandlerCompiler } from './types.ts';

export const respond: HandlerCompiler<RespondRoute> = (r) => ({
  step: (req, res, ctx) => {
    const body = expandPlaceholders(r.body, req, ctx);
    res.statusCode = r.status;
    if (body !== '' && !res.hasHeader('content-type')) res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(body);
    return true;
  },
});

export const redir: HandlerCompiler<RedirRoute> = (r) => ({
  step: (req, res, ctx) => {
    res.statusCode = r.status;
    res.setHeader('location', expandPlaceholders(r.to, req, ctx));
    res.end();
    return true;
  },
});

export const header: HandlerCompiler<HeaderRoute> = (r) => ({
  step: (req, res, ctx) => {
    // Applied when the head goes out, so they also win over what an upstream sent.
    responseHooks(res).onHead(() => applyResponseHeaderOps(res, r.ops, req, ctx, r.deferred));
    return false;
  },
});

export const encode: HandlerCompiler<EncodeRoute> = (r) => ({
  step: (req, res) => {
    encodeResponse(req, res, r.encodings);
    return false;
  },
});
