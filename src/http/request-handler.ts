import { ServerResponse, type IncomingMessage } from '../util/node-http.ts';
import type { Duplex } from 'node:stream';
import { accessEntry, connectionOf, type AccessLogContext } from '../app/access-log.ts';
import { listenerId, type Generation } from '../app/generation.ts';
import type { SiteConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { publish } from '../diagnostics.ts';
import { splitTarget, type Req, type RequestContext, type Res } from '../routes/context.ts';
import type { SiteRouter } from '../routes/site-router.ts';
import { ClientIpPolicies } from './client-ip.ts';
import { requestContext, resolveTarget } from './request-target.ts';
import { sniMismatch } from './strict-sni.ts';
import { countBodyBytes } from './response-hooks.ts';

/** An HTTP-01 responder (src/challenges/http-01.ts's Http01Solver). */
export interface Http01Responder {
  /** Whether a token the request asks for is pending here for its Host. */
  knows(req: IncomingMessage): Promise<boolean>;
  /** Answers a request under /.well-known/acme-challenge/ and resolves true; false for any other path. */
  handleHttp01(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export interface RequestHandlerOptions {
  /** The generation serving now; undefined until the first one is bound (requests then get 503). */
  readonly generation: () => Generation | undefined;
  /**
   * The HTTP-01 responders, the current one first, then any a reload retired whose orders may
   * still be validated. A retired one answers only the tokens it knows.
   */
  readonly http01: () => readonly (Http01Responder | undefined)[];
  /** The access logger of a site with a `log` directive. */
  readonly accessLogs: { for(site: SiteConfig, ctx?: AccessLogContext): Logger | undefined };
  readonly log: Logger;
}

/**
 * The request path of every listener, for HTTP/1.1 and HTTP/2 alike. In order: the Host rules
 * (400; absolute-form resolved, see request-target.ts), the path (400 when it does not decode);
 * on plain HTTP the HTTP-01 answer, then the site of that listener or else the 308 to the HTTPS
 * site of the same name; on HTTPS, 421 when the request names another host than the connection's
 * SNI; 421 for an absolute-form target no site of ours has; 404 when no site serves the host; then
 * the site's routes. Each request is counted for metrics and written to its site's access log.
 *
 * Reads the generation once per request, so a reload never changes a request's site mid-way.
 * Never rejects: a handler failure is a 500 (or a reset once the head is out) and a log line.
 */
export class RequestHandler {
  readonly #o: RequestHandlerOptions;
  readonly #clientIps = new ClientIpPolicies();
  /** Site-table keys by port (listenerId), made once rather than a string per request. */
  readonly #tableKeys = { http: new Map<number, string>(), https: new Map<number, string>() };
  /** What accessLogs.for() gets, made once per config rather than per request. */
  #accessCtx: AccessLogContext | undefined;

  constructor(options: RequestHandlerOptions) {
    this.#o = options;
  }

  async handle(req: Req, res: Res, scheme: 'http' | 'https', port: number): Promise<void> {
    const started = performance.now();
    const gen = this.#o.generation();
    if (!gen) return void plain(res, 503, 'Service Unavailable\n');
    // The target as received, for the access log (absolute-form is rewritten below).
    const url = req.url ?? '/';
    const target = resolveTarget(req, scheme);
    if (!target.ok) {
      // A request whose framing is in doubt ends its connection (HTTP/2 streams are independent).
      if (res instanceof ServerResponse) res.setHeader('connection', 'close');
      return void plain(res, 400, `Bad Request: ${target.reason}\n`);
    }
    const ctx = requestContext(req, scheme);
    if (!ctx) return void plain(res, 400, 'Bad Request: malformed path\n');
    this.#clientIps.apply(ctx, gen.config, port, req.headers);
    const host = ctx.host;
    let router: SiteRouter | undefined;
    try {
      if (scheme === 'http') {
        if (await this.#answerHttp01(req as IncomingMessage, res as ServerResponse)) return;
        router = target.otherScheme ? undefined : gen.tables.get(this.#tableKey('http', port))?.find(host);
        if (!router && !target.otherScheme && redirectToHttps(gen, ctx, req, res)) return;
      } else {
        if (sniMismatch(req, host, gen.config, port)) return void plain(res, 421, 'Misdirected Request: this connection is for another name\n');
        router = target.otherScheme ? undefined : gen.tables.get(this.#tableKey('https', port))?.find(host);
      }
      if (!router && target.absolute) return void plain(res, 421, `Misdirected Request: no site here for ${url}\n`);
      if (!router) return void plain(res, 404, `Not Found: no site for ${host || '(no host)'}\n`);
      const site = router.site;
      const siteLabel = site.addresses[0]?.original ?? '';
      if (this.#accessCtx?.config !== gen.config) this.#accessCtx = { log: this.#o.log, config: gen.config };
      const access = this.#o.accessLogs.for(site, this.#accessCtx);
      // Body bytes, counted only for sites that log them; first, so it counts what is sent.
      const sent = access ? countBodyBytes(res) : undefined;
      const connection = access ? connectionOf(req, scheme) : undefined;
      res.once('close', () => {
        const durationMs = performance.now() - started;
        publish('my-server:http:request', { site: siteLabel, method: req.method ?? 'GET', status: res.statusCode, durationMs });
        // `log_skip` (Caddy's request variable of that name) keeps the request out of the access log.
        if (access && connection && ctx.vars?.get('log_skip') !== true) {
          const entry = accessEntry({ req, res, ctx, uri: url, durationMs, size: sent?.() ?? 0, port, config: gen.config, connection });
          // As Caddy: a 5xx answer is logged at error level, anything else at info.
          if (res.statusCode >= 500) access.error(entry, 'handled request');
          else access.info(entry, 'handled request');
        }
      });
      await router.handle(req, res, ctx);
    } catch (err) {
      this.#o.log.error({ err, host, url }, 'request handler failed');
      if (!res.headersSent) plain(res, 500, 'Internal Server Error\n');
      else res.destroy();
    }
  }

  /**
   * An HTTP/1.1 upgrade (a WebSocket GET: the fronts pass nothing else here, see http1-rules.ts). Same
   * Host rules and site lookup as handle(); refusals are written to the socket as a whole response.
   */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, scheme: 'http' | 'https', port: number): Promise<void> {
    // Node takes its own error listener off an upgraded socket: without ours, a client reset
    // during our answer would be an uncaught exception.
    socket.on('error', (err) => this.#o.log.debug({ err: err.message }, 'upgrade socket error'));
    const reject = (status: string): void => void socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    const target = resolveTarget(req, scheme);
    if (!target.ok) return reject('400 Bad Request');
    const ctx = requestContext(req, scheme);
    if (!ctx) return reject('400 Bad Request');
    // Read once: a reload in between must not pair one config's client-IP policy with another's sites.
    const gen = this.#o.generation();
    this.#clientIps.apply(ctx, gen?.config, port, req.headers);
    if (scheme === 'https' && sniMismatch(req, ctx.host, gen?.config, port)) return reject('421 Misdirected Request');
    const router = target.otherScheme ? undefined : gen?.tables.get(listenerId({ protocol: scheme, port }))?.find(ctx.host);
    if (!router) return reject(target.absolute ? '421 Misdirected Request' : '404 Not Found');
    try {
      await router.upgrade(req, socket, head, ctx);
    } catch (err) {
      this.#o.log.debug({ err, host: ctx.host }, 'upgrade failed');
      socket.destroy();
    }
  }

  #tableKey(protocol: 'http' | 'https', port: number): string {
    const keys = this.#tableKeys[protocol];
    let key = keys.get(port);
    if (key === undefined) keys.set(port, (key = listenerId({ protocol, port })));
    return key;
  }

  /** An HTTP-01 answer from a retired responder that knows the token, else from the current one. */
  async #answerHttp01(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const [current, ...retired] = this.#o.http01();
    for (const r of retired) if (r && (await r.knows(req))) return r.handleHttp01(req, res);
    return (await current?.handleHttp01(req, res)) ?? false;
  }
}

/** 308 to HTTPS for a host that has an HTTPS site (SPEC: "HTTP requests to an HTTPS site"). */
function redirectToHttps(gen: Generation, ctx: RequestContext, req: Req, res: Res): boolean {
  if (gen.config.globals.autoHttps !== 'on') return false;
  const host = ctx.host;
  if (host === '') return false;
  // Path and query only (resolveTarget made the target origin-form already; kept as a guard).
  const { path, query } = splitTarget(req.url ?? '/');
  const url = path + (query ? `?${query}` : '');
  for (const l of gen.listeners) {
    if (l.protocol !== 'https') continue;
    if (!gen.tables.get(listenerId(l))?.find(host)) continue;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const location = `https://${hostPart}${l.port === 443 ? '' : `:${l.port}`}${url}`;
    res.setHeader('location', location);
    plain(res, 308, `Permanent Redirect: ${location}\n`);
    return true;
  }
  return false;
}

function plain(res: Res, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(body);
}
