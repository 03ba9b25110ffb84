import { ServerResponse, STATUS_CODES, type IncomingMessage } from '../util/node-http.ts';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Route, ReverseProxyRoute, SiteConfig, StatusMatch } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { ReverseProxy } from '../proxy/reverse-proxy.ts';
import { setValue, type Req, type RequestContext, type Res } from './context.ts';
import { encode, header, redir, respond } from './handlers/basic.ts';
import { handle, route } from './handlers/blocks.ts';
import { basicAuth } from './handlers/basic-auth.ts';
import { fileServer } from './handlers/file-server.ts';
import { abort, error, HandlerError } from './handlers/errors.ts';
import { copyResponse, copyResponseHeaders, reverseProxyWithResponses } from './handlers/handle-response.ts';
import { metrics, requestBody, requestHeader, type MetricsSource } from './handlers/request.ts';
import { rewrite } from './handlers/rewrite.ts';
import { phpFastcgi } from './handlers/php-fastcgi.ts';
import type { CompileContext, CompiledChain, HandlerCompiler, Step, UpgradableContext } from './handlers/types.ts';
import { map, vars } from './handlers/vars.ts';
import { compileMatcherSet, type Match } from './matchers/index.ts';

/** One compiler per route kind: adding a handler directive is one entry here and one file in handlers/. */
const HANDLERS: { readonly [K in Route['kind']]: HandlerCompiler<Extract<Route, { kind: K }>> } = {
  respond,
  redir,
  header,
  encode,
  handle,
  route,
  reverse_proxy: reverseProxyWithResponses,
  file_server: fileServer,
  basic_auth: basicAuth,
  rewrite,
  error,
  abort,
  request_header: requestHeader,
  request_body: requestBody,
  vars,
  map,
  metrics,
  copy_response: copyResponse,
  copy_response_headers: copyResponseHeaders,
  php_fastcgi: phpFastcgi,
};

/** A handle_errors block: the codes it takes (absent: all) and its routes. */
interface ErrorBlock {
  readonly codes?: readonly StatusMatch[];
  readonly chain: CompiledChain;
}

export interface SiteRouterOptions {
  /** The process's metrics, served by the `metrics` directive. */
  readonly metrics?: MetricsSource;
}

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
  readonly #errors: readonly ErrorBlock[];
  readonly #proxies: ReverseProxy[] = [];

  constructor(site: SiteConfig, log: Logger, options: SiteRouterOptions = {}) {
    this.site = site;
    const isErrors = (r: Route): boolean => r.kind === 'handle' && r.directive === 'handle_errors';
    const cx: CompileContext = {
      log,
      handlesErrors: site.routes.some(isErrors),
      compile: (routes) => chainOf(routes.map((r) => compileRoute(r, cx))),
      proxy: (r: ReverseProxyRoute) => {
        const p = new ReverseProxy(r, { logger: log.child({ logger: 'proxy' }) });
        this.#proxies.push(p);
        return p;
      },
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    };
    this.#chain = cx.compile(site.routes.filter((r) => !isErrors(r)));
    // Blocks with codes before the catch-all, each kept in the order written (Caddy 2.8+).
    const blocks = site.routes.filter((r) => r.kind === 'handle' && isErrors(r)) as Extract<Route, { kind: 'handle' }>[];
    this.#errors = [...blocks.filter((b) => b.errorCodes), ...blocks.filter((b) => !b.errorCodes)].map((b) => ({
      ...(b.errorCodes ? { codes: b.errorCodes } : {}),
      chain: cx.compile(b.routes),
    }));
  }

  /**
   * Runs the chain; with no route answering, an empty 200, as Caddy does. A handler's error
   * (HandlerError) is answered by the site's handle_errors routes, or with its status and an
   * empty body.
   */
  async handle(req: Req, res: Res, ctx: RequestContext): Promise<void> {
    try {
      const answered = await this.#chain.run(req, res, ctx);
      if (!answered && !res.headersSent) res.end();
    } catch (err) {
      if (!(err instanceof HandlerError)) throw err;
      await this.#answerError(req, res, ctx, err);
    }
  }

  /**
   * Caddy's server on a handler error: the `http.error.*` values ({err.*}) are set and the error
   * routes run: here the handle_errors blocks whose codes take the status, in order, until one
   * answers (Caddy concatenates them into one subroute, each route guarded by its block's codes).
   * An error raised inside them, or no answer, gives the status with an empty body.
   */
  async #answerError(req: Req, res: Res, ctx: RequestContext, err: HandlerError): Promise<void> {
    setValue(ctx, 'http.error.status_code', String(err.status));
    setValue(ctx, 'http.error.status_text', statusText(err.status));
    setValue(ctx, 'http.error.message', err.detail);
    setValue(ctx, 'http.error.id', errorId());
    if (res.headersSent) {
      res.destroy();
      return;
    }
    try {
      for (const block of this.#errors) {
        if (block.codes !== undefined && !block.codes.some((c) => statusMatches(c, err.status))) continue;
        if (await block.chain.run(req, res, ctx)) return;
      }
    } catch (inner) {
      if (!(inner instanceof HandlerError)) throw inner;
    }
    if (res.headersSent) return;
    res.statusCode = err.status;
    res.end();
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
  // From route `i` on; synchronous until a step returns a promise (most return a boolean), so a
  // request does not pay an await per route.
  const from = (i: number, ran: Set<string> | undefined, req: Req, res: Res, ctx: UpgradableContext): boolean | Promise<boolean> => {
    let done = ran;
    for (; i < routes.length; i++) {
      const c = routes[i] as Compiled;
      if (grouped && c.group !== undefined && done?.has(c.group)) continue;
      if (c.match && !c.match(req, ctx)) continue;
      if (c.group !== undefined) (done ??= new Set()).add(c.group);
      const answered = c.step(req, res, ctx);
      if (typeof answered === 'boolean') {
        if (answered) return true;
        continue;
      }
      const next = i + 1;
      const after = done;
      return answered.then((a) => a || from(next, after, req, res, ctx));
    }
    return false;
  };
  return {
    run(req, res, ctx) {
      try {
        return Promise.resolve(from(0, undefined, req, res, ctx));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
  };
}

function statusMatches(m: StatusMatch, status: number): boolean {
  return typeof m === 'number' ? m === status : Math.floor(status / 100) === Number(m[0]);
}

/** Go's http.StatusText where it differs from Node's STATUS_CODES, so {err.status_text} reads as in Caddy. */
const GO_STATUS_TEXT: Readonly<Record<number, string>> = {
  413: 'Request Entity Too Large',
  414: 'Request URI Too Long',
  416: 'Requested Range Not Satisfiable',
  418: "I'm a teapot",
};

function statusText(status: number): string {
  return GO_STATUS_TEXT[status] ?? STATUS_CODES[status] ?? '';
}

/** Caddy's {http.error.id}: 9 random characters that tie a log line to the error page. */
function errorId(): string {
  return randomBytes(9).toString('base64url').slice(0, 9).toLowerCase();
}
