/**
 * reverse_proxy's handle_response blocks at run time, and copy_response / copy_response_headers
 * inside them (Caddy's reverseproxy.go HandleResponse loop, copy_response.go).
 *
 * The proxy (proxy/reverse-proxy.ts) matches the upstream's response head against the handlers;
 * for a handle_response block it hands the response over instead of relaying it, and this module
 * runs the block's routes on it. As in Caddy, the block's routes are compiled in front of the rest
 * of the chain: when none of them answers, the handlers after reverse_proxy run (forward_auth's
 * 2xx block only copies headers onto the request and lets the chain go on).
 */
import { STATUS_CODES, type ServerResponse } from '../../util/node-http.ts';
import type { CopyResponseHeadersRoute, CopyResponseRoute, ReverseProxyRoute } from '../../config/types.ts';
import type { ProxyContext, ProxyRequest, ProxyResponse, ReverseProxy } from '../../proxy/reverse-proxy.ts';
import { copyResponse as copyUpstream, type InterceptedResponse } from '../../proxy/response-handling.ts';
import { canonicalHeaderName } from '../../util/header-name.ts';
import { setValue, type Req, type RequestContext, type Res } from '../context.ts';
import { reverseProxy as proxyStep } from './blocks.ts';
import { HandlerError } from './errors.ts';
import type { CompiledChain, HandlerCompiler, UpgradableContext } from './types.ts';

/** The upstream response of the handle_response block running for a request, for copy_response*. */
const current = new WeakMap<RequestContext, InterceptedResponse>();

/** What a handle_response block did for one request, read back by the reverse_proxy step. */
interface Outcome {
  readonly ctx: UpgradableContext;
  answered?: boolean;
  error?: unknown;
}

export const reverseProxyWithResponses: HandlerCompiler<ReverseProxyRoute> = (r, cx) => {
  const chains = (r.handleResponse ?? []).map((h) => (h.routes === undefined ? undefined : cx.compile(h.routes)));
  // replace_status alone is the proxy's own business.
  if (!chains.some((c) => c !== undefined)) return proxyStep(r, cx);
  const proxy = cx.proxy(r);
  const running = new WeakMap<Req, Outcome>();
  const hooked = {
    handle: (req: ProxyRequest, res: ProxyResponse, pctx: ProxyContext) =>
      proxy.handle(req, res, {
        ...pctx,
        onResponse: async (index: number, response: InterceptedResponse) => {
          const outcome = running.get(req);
          const chain = chains[index];
          if (outcome === undefined || chain === undefined) return;
          await runBlock(chain, response, req, res, outcome);
        },
      }),
    upgrade: proxy.upgrade.bind(proxy),
  } as unknown as ReverseProxy;
  const inner = proxyStep(r, { ...cx, proxy: () => hooked });
  return {
    step: async (req, res, ctx) => {
      const outcome: Outcome = { ctx };
      running.set(req, outcome);
      try {
        await inner.step(req, res, ctx);
      } finally {
        running.delete(req);
      }
      if (outcome.error !== undefined) throw outcome.error;
      return outcome.answered ?? true;
    },
  };
};

async function runBlock(chain: CompiledChain, response: InterceptedResponse, req: Req, res: Res, outcome: Outcome): Promise<void> {
  const { ctx } = outcome;
  setValue(ctx, 'http.reverse_proxy.status_code', String(response.status));
  setValue(ctx, 'http.reverse_proxy.status_text', `${response.status} ${STATUS_CODES[response.status] ?? ''}`.trim());
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined) continue;
    setValue(ctx, `http.reverse_proxy.header.${canonicalHeaderName(name)}`, Array.isArray(value) ? value.join(',') : value);
  }
  const outer = current.get(ctx);
  current.set(ctx, response);
  try {
    outcome.answered = await chain.run(req, res, ctx);
  } catch (err) {
    outcome.error = err;
  } finally {
    if (outer !== undefined) current.set(ctx, outer);
    else current.delete(ctx);
  }
}

const noResponse = (name: string): HandlerError => new HandlerError(500, `${name}: no upstream response to copy outside handle_response`);

/** copy_response [STATUS]: the upstream's response as the relay would send it; terminal. */
export const copyResponse: HandlerCompiler<CopyResponseRoute> = (r) => ({
  step: async (_req, res, ctx) => {
    const response = current.get(ctx);
    if (response === undefined) throw noResponse('copy_response');
    // Copied once: a second copy_response (or a handler that already answered) has nothing to add.
    if (res.headersSent) return true;
    await copyUpstream(response, res as ServerResponse, r.status);
    return true;
  },
});

/**
 * Fields a copy must not carry: hop-by-hop ones, and the framing of a body this response may not
 * send (Node frames the body it writes). Caddy copies them as they are; Go's server drops the same.
 */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length']);

/** copy_response_headers: the upstream's fields (include: only these; exclude: all but these) added to the response. */
export const copyResponseHeaders: HandlerCompiler<CopyResponseHeadersRoute> = (r) => {
  const include = r.include === undefined ? undefined : new Set(r.include.map((f) => f.toLowerCase()));
  const exclude = new Set(r.exclude?.map((f) => f.toLowerCase()));
  return {
    step: (_req, res, ctx) => {
      const response = current.get(ctx);
      if (response === undefined) throw noResponse('copy_response_headers');
      if (res.headersSent) return false;
      for (const [name, value] of Object.entries(response.headers)) {
        if (value === undefined || NOT_COPIED.has(name) || exclude.has(name)) continue;
        if (include !== undefined && !include.has(name)) continue;
        // Added beside what the response already has, as Caddy's rw.Header().Add.
        const had = res.getHeader(name);
        const before = had === undefined ? [] : Array.isArray(had) ? had : [String(had)];
        const all = [...before, ...(Array.isArray(value) ? value : [value])];
        res.setHeader(name, all.length === 1 ? (all[0] as string) : all);
      }
      return false;
    },
  };
};
