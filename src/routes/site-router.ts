import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Route, ReverseProxyRoute, SiteConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { ReverseProxy } from '../proxy/reverse-proxy.ts';
import type { Req, RequestContext, Res } from './context.ts';
import { encode, header, redir, respond } from './handlers/basic.ts';
import { handle, reverseProxy, route } from './handlers/blocks.ts';
import { basicAuth } from './handlers/basic-auth.ts';
import { fileServer } from './handlers/file-server.ts';
import { phpFastcgi } from './handlers/php-fastcgi.ts';
import type { CompileContext, CompiledChain, HandlerCompiler, Step, UpgradableContext } from './handlers/types.ts';
import { compileMatcherSet, type Match } from './matchers/index.ts';

/** One compiler per route kind: adding a handler directive is one entry here and one file in handlers/. */
const HANDLERS: { readonly [K in Route['kind']]: HandlerCompiler<Extract<Route, { kind: K }>> } = {
  respond,
  redir,
  header,
  encode,
  handle,
  route,
  reverse_proxy: reverseProxy,
  file_server: fileServer,
  basic_auth: basicAuth,
  php_fastcgi: phpFastcgi,
};

interface Compiled {
  readonly match?: Match;
  readonly group?: string;
  readonly step: Step;
}

/**
 * One site's handler chain, compiled from its routes once per config (the config already sorts
 * them in the Caddyfile's directive order and names their groups). Owns the site's ReverseProxy
 * instances: close() stops their health checks and pools.
 */
export class SiteRouter {
  readonly site: SiteConfig;
  readonly #chain: CompiledChain;
  readonly #proxies: ReverseProxy[] = [];

  constructor(site: SiteConfig, log: Logger) {
    this.site = site;
    const cx: CompileContext = {
      log,
      compile: (routes) => chainOf(routes.map((r) => compileRoute(r, cx))),
      proxy: (r: ReverseProxyRoute) => {
        const p = new ReverseProxy(r, { logger: log.child({ logger: 'proxy' }) });
        this.#proxies.push(p);
        return p;
      },
    };
    this.#chain = cx.compile(site.routes);
  }

  /** Runs the chain; with no route answering, an empty 200, as Caddy does. */
  async handle(req: Req, res: Res, ctx: RequestContext): Promise<void> {
    const answered = await this.#chain.run(req, res, ctx);
    if (!answered && !res.headersSent) res.end();
  }

  /**
   * An upgrade request runs the chain like any other: the reverse_proxy that reaches it takes the
   * socket (handlers/blocks.ts); any other handler answers it as an ordinary request (respond,
   * redir, or an empty 200) on a response made for the socket.
   */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<void> {
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => socket.end());
    const up: UpgradableContext = Object.assign(ctx, { upgrade: { socket, head, detach: () => res.detachSocket(socket as Socket) } });
    await this.handle(req, res, up);
  }

  async close(): Promise<void> {
    await Promise.all(this.#proxies.map((p) => p.close()));
  }
}

function compileRoute(r: Route, cx: CompileContext): Compiled {
  const { step } = (HANDLERS[r.kind] as HandlerCompiler<Route>)(r, cx);
  return {
    step,
    ...(r.matcher !== undefined && r.matcher.matchers.length > 0 ? { match: compileMatcherSet(r.matcher) } : {}),
    ...(r.group !== undefined ? { group: r.group } : {}),
  };
}

/**
 * Routes run in order; a route whose matcher fails is skipped, and so is one whose group already
 * ran a route in this list (Caddy's route groups). The first step that answers ends the chain.
 */
function chainOf(routes: readonly Compiled[]): CompiledChain {
  const grouped = routes.some((r) => r.group !== undefined);
  return {
    async run(req, res, ctx) {
      let done: Set<string> | undefined;
      for (const c of routes) {
        if (grouped && c.group !== undefined && done?.has(c.group)) continue;
        if (c.match && !c.match(req, ctx)) continue;
        if (c.group !== undefined) (done ??= new Set()).add(c.group);
        if (await c.step(req, res, ctx)) return true;
      }
      return false;
    },
  };
}
