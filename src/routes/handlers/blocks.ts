/** Blocks of routes: handle / handle_path, route; and reverse_proxy, which owns a ReverseProxy. */
import type { HandleRoute, ReverseProxyRoute, RouteRoute } from '../../config/types.ts';
import type { Req } from '../context.ts';
import { HandlerError } from './errors.ts';
import type { HandlerCompiler, UpgradableContext } from './types.ts';
import { escapePath } from '../../util/rewrite-uri.ts';
import type { ProxyContext } from '../../proxy/reverse-proxy.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };


/**
 * handle and handle_path: the nested routes run; like every Caddy subroute, when none of them
 * answers, the chain goes on after the block (a handle holding only `header` adds headers to what
 * a later `respond` sends). Mutual exclusion with the other handle blocks is the route's group.
 */
export const handle: HandlerCompiler<HandleRoute> = (r, cx) => {
  const chain = cx.compile(r.routes);
  const prefix = r.stripPrefix;
  return {
    step: (req, res, ctx) => {
      if (prefix !== undefined) {
        ctx.path = stripPrefix(ctx.path, prefix);
        ctx.rewritten = true;
      }
      return chain.run(req, res, ctx);
    },
  };
};

/** route: the nested routes in the order written; the chain goes on when none answers. */
export const route: HandlerCompiler<RouteRoute> = (r, cx) => {
  const chain = cx.compile(r.routes);
  return { step: (req, res, ctx) => chain.run(req, res, ctx) };
};

export const reverseProxy: HandlerCompiler<ReverseProxyRoute> = (r, cx) => {
  const proxy = cx.proxy(r);
  return {
    step: async (req, res, ctx) => {
      if (ctx.rewritten) rewritePath(req, ctx);
      if (ctx.upgrade) {
        // The socket is the proxy's now: the response made for it must not write to it.
        ctx.upgrade.detach();
        await proxy.upgrade(req as Parameters<typeof proxy.upgrade>[0], ctx.upgrade.socket, ctx.upgrade.head, {
          scheme: ctx.scheme, remoteAddress: ctx.remoteAddress, trustedPeer: ctx.trustedPeer, clientIp: ctx.clientIp, placeholders: ctx,
        });
        return true;
      }
      let failed: { status: number; message: string } | undefined;
      // One options object per request, no spreads: this runs for every proxied request.
      const options: Mutable<ProxyContext> = {
        scheme: ctx.scheme,
        remoteAddress: ctx.remoteAddress,
        trustedPeer: ctx.trustedPeer,
        clientIp: ctx.clientIp,
        placeholders: ctx,
        onUpstream: (address) => (ctx.upstream = address),
      };
      if (cx.handlesErrors) options.onFailure = (status, message) => (failed = { status, message });
      if (ctx.signal) options.signal = ctx.signal;
      await proxy.handle(req, res, options);
      if (failed !== undefined) throw new HandlerError(failed.status, failed.message);
      return true;
    },
  };
};

export function stripPrefix(path: string, prefix: string): string {
  if (!path.toLowerCase().startsWith(prefix.toLowerCase())) return path;
  const rest = path.slice(prefix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** After handle_path or a rewrite, the upstream sees the path and query handlers left. */
function rewritePath(req: Req, ctx: UpgradableContext): void {
  req.url = escapePath(ctx.path) + (ctx.query ? `?${ctx.query}` : '');
}
