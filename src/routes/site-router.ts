import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Route, ReverseProxyRoute, SiteConfig, HeaderOp } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { ReverseProxy } from '../proxy/reverse-proxy.ts';
import { expandPlaceholders, type Req, type RequestContext, type Res } from './context.ts';
import { encodeResponse } from './encode.ts';
import { applyResponseHeaderOps } from './header-ops.ts';
import { responseHooks } from '../http/response-hooks.ts';
import { compilePathMatcher } from './path-matcher.ts';

/** A compiled route: runs, and resolves true when it answered the request (the chain stops). */
type Step = (req: Req, res: Res, ctx: RequestContext) => Promise<boolean> | boolean;

interface Compiled {
  readonly match?: (path: string) => boolean;
  readonly step: Step;
  /** Consecutive `handle` routes are mutually exclusive: the first that matches runs alone. */
  readonly handleGroup: boolean;
  /** For WebSocket upgrades: the reverse_proxy that would answer. */
  readonly proxy?: ReverseProxy;
  /** respond and redir answer every request they match, upgrades included. */
  readonly terminal?: boolean;
  readonly nested?: readonly Compiled[];
  readonly stripPrefix?: string;
}

/**
 * One site's handler chain, compiled from its routes once per config (the config already sorts
 * them in the Caddyfile's directive order). Owns the site's ReverseProxy instances: close() stops
 * their health checks and pools.
 */
export class SiteRouter {
  readonly site: SiteConfig;
  readonly #chain: readonly Compiled[];
  readonly #proxies: ReverseProxy[] = [];

  constructor(site: SiteConfig, log: Logger) {
    this.site = site;
    this.#chain = this.#compile(site.routes, log);
  }

  /** Runs the chain; with no route answering, an empty 200, as Caddy does. */
  async handle(req: Req, res: Res, ctx: RequestContext): Promise<void> {
    const answered = await run(this.#chain, req, res, ctx);
    if (!answered && !res.headersSent) res.end();
  }

  /** The reverse_proxy a WebSocket upgrade request goes to, or undefined (then 404). */
  upgradeTarget(path: string): ReverseProxy | undefined {
    return findProxy(this.#chain, path);
  }

  /**
   * An upgrade request goes to the reverse_proxy that would answer it; any other handler answers
   * it as an ordinary request (respond, redir, or an empty 200), on a response made for the socket.
   */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<void> {
    const proxy = this.upgradeTarget(ctx.path);
    if (proxy) {
      await proxy.upgrade(req, socket, head, { scheme: ctx.scheme, remoteAddress: ctx.remoteAddress, trustedPeer: ctx.trustedPeer, clientIp: ctx.clientIp });
      return;
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => socket.end());
    await this.handle(req, res, ctx);
  }

  async close(): Promise<void> {
    await Promise.all(this.#proxies.map((p) => p.close()));
  }

  #compile(routes: readonly Route[], log: Logger): Compiled[] {
    return routes.map((r): Compiled => {
      const match = r.matcher ? compilePathMatcher(r.matcher.path) : undefined;
      const base = { ...(match ? { match } : {}), handleGroup: false };
      switch (r.kind) {
        case 'respond':
          return { ...base, terminal: true, step: (req, res, ctx) => respond(res, r.status, expandPlaceholders(r.body, req, ctx)) };
        case 'redir':
          return {
            ...base,
            terminal: true,
            step: (req, res, ctx) => {
              res.statusCode = r.status;
              res.setHeader('location', expandPlaceholders(r.to, req, ctx));
              res.end();
              return true;
            },
          };
        case 'header':
          return { ...base, step: (req, res, ctx) => headerStep(req, res, ctx, r.ops, r.deferred) };
        case 'encode':
          return {
            ...base,
            step: (req, res) => {
              encodeResponse(req, res, r.encodings);
              return false;
            },
          };
        case 'handle': {
          const nested = this.#compile(r.routes, log);
          return {
            ...base,
            handleGroup: true,
            nested,
            ...(r.stripPrefix !== undefined ? { stripPrefix: r.stripPrefix } : {}),
            step: async (req, res, ctx) => {
              if (r.stripPrefix !== undefined) {
                ctx.path = stripPrefix(ctx.path, r.stripPrefix);
                ctx.rewritten = true;
              }
              const answered = await run(nested, req, res, ctx);
              // A handle block that matched ends the chain, answered or not (Caddy's semantics).
              if (!answered && !res.headersSent) res.end();
              return true;
            },
          };
        }
        case 'reverse_proxy': {
          const proxy = this.#proxy(r, log);
          return {
            ...base,
            proxy,
            step: async (req, res, ctx) => {
              if (ctx.rewritten) rewritePath(req, ctx);
              await proxy.handle(req, res, {
                scheme: ctx.scheme,
                remoteAddress: ctx.remoteAddress,
                trustedPeer: ctx.trustedPeer,
                clientIp: ctx.clientIp,
                ...(ctx.signal ? { signal: ctx.signal } : {}),
                onUpstream: (address) => (ctx.upstream = address),
              });
              return true;
            },
          };
        }
      }
    });
  }

  #proxy(r: ReverseProxyRoute, log: Logger): ReverseProxy {
    const p = new ReverseProxy(r, { logger: log.child({ logger: 'proxy' }) });
    this.#proxies.push(p);
    return p;
  }
}

async function run(chain: readonly Compiled[], req: Req, res: Res, ctx: RequestContext): Promise<boolean> {
  let groupDone = false;
  for (const c of chain) {
    if (!c.handleGroup) groupDone = false;
    if (c.handleGroup && groupDone) continue;
    if (c.match && !c.match(ctx.path)) continue;
    if (c.handleGroup) groupDone = true;
    if (await c.step(req, res, ctx)) return true;
  }
  return false;
}

function findProxy(chain: readonly Compiled[], path: string): ReverseProxy | undefined {
  let groupDone = false;
  for (const c of chain) {
    if (!c.handleGroup) groupDone = false;
    if (c.handleGroup && groupDone) continue;
    if (c.match && !c.match(path)) continue;
    // A matching respond/redir answers the upgrade request as it would any other: no proxying.
    if (c.terminal) return undefined;
    if (c.proxy) return c.proxy;
    if (c.nested) {
      groupDone = true;
      return findProxy(c.nested, c.stripPrefix !== undefined ? stripPrefix(path, c.stripPrefix) : path);
    }
  }
  return undefined;
}

function respond(res: Res, status: number, body: string): boolean {
  res.statusCode = status;
  if (body !== '' && !res.hasHeader('content-type')) res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(body);
  return true;
}

function headerStep(req: Req, res: Res, ctx: RequestContext, ops: readonly HeaderOp[], deferred: boolean): boolean {
  // Applied when the head goes out, so they also win over what an upstream sent.
  responseHooks(res).onHead(() => applyResponseHeaderOps(res, ops, req, ctx, deferred));
  return false;
}

function stripPrefix(path: string, prefix: string): string {
  if (!path.toLowerCase().startsWith(prefix.toLowerCase())) return path;
  const rest = path.slice(prefix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** After handle_path, the upstream sees the stripped path (with the original query). */
function rewritePath(req: Req, ctx: RequestContext): void {
  // ctx.path is decoded; encodeURI escapes what must not appear raw in a request-target again.
  req.url = encodeURI(ctx.path) + (ctx.query ? `?${ctx.query}` : '');
}
