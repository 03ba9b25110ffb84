import type { TLSSocket } from 'node:tls';
import type { Config, SiteConfig } from '../config/types.ts';
import { serverOptionsFor } from '../http/client-ip.ts';
import { closeLogger, createLogger, logOptionsOf, type Logger } from '../log.ts';
import { requestHost, type Req, type RequestContext, type Res } from '../routes/context.ts';
import { canonicalHeaderName } from '../util/header-name.ts';

/** What `for` needs beyond the site: the process logger and the config the request is served by. */
export interface AccessLogContext {
  /** The process logger: sites whose `log` sets no output, format or level log through it. */
  readonly log: Logger;
  readonly config: Config;
}

/**
 * Access loggers for sites with a `log` directive, named http.log.access.NAME as Caddy names them
 * (NAME from `log NAME`, else log0, log1… in site order). A site's `log` with its own output,
 * format or level gets its own logger, one per distinct setting, kept across reloads so a file is
 * not reopened for every config change; a bare `log` (or `log NAME`) logs through the process
 * logger, so the `log` global options (`default`, and named ones that include the name) take it.
 */
export class AccessLogs {
  readonly #byKey = new Map<string, Logger>();
  readonly #names = new WeakMap<Config, Map<SiteConfig, string>>();
  /**
   * Each site's named child logger, made at its first request rather than at every one (a pino
   * child per request was the access log's largest cost). Keyed by the site object, so a reload's
   * new config makes new ones; prune() starts over, since it may close a parent.
   */
  #children = new WeakMap<SiteConfig, { readonly parent: Logger | undefined; readonly child: Logger }>();

  for(site: SiteConfig, ctx?: AccessLogContext): Logger | undefined {
    const c = site.log;
    if (!c) return undefined;
    const cached = this.#children.get(site);
    if (cached !== undefined && cached.parent === ctx?.log) return cached.child;
    const child = this.#make(site, c, ctx);
    this.#children.set(site, { parent: ctx?.log, child });
    return child;
  }

  #make(site: SiteConfig, c: NonNullable<SiteConfig['log']>, ctx: AccessLogContext | undefined): Logger {
    const name = `http.log.access.${c.name ?? (ctx ? this.#autoName(ctx.config, site) : 'log0')}`;
    if (c.shared === true && ctx) return ctx.log.child({ logger: name });
    const key = keyOf(c);
    let log = this.#byKey.get(key);
    if (!log) {
      log = createLogger(logOptionsOf(c));
      this.#byKey.set(key, log);
    }
    return log.child({ logger: name });
  }

  /** log0, log1… for the sites of `config` that have a `log` without a name, in file order. */
  #autoName(config: Config, site: SiteConfig): string {
    let names = this.#names.get(config);
    if (!names) {
      names = new Map();
      let i = 0;
      // As Caddy's adapter: only a `log` without a name takes the next number.
      for (const s of config.sites) if (s.log && s.log.name === undefined) names.set(s, `log${i++}`);
      this.#names.set(config, names);
    }
    return names.get(site) ?? 'log0';
  }

  /** Close the loggers no site of `config` uses any more. */
  prune(config: Config): void {
    this.#children = new WeakMap();
    const used = new Set(config.sites.flatMap((s) => (s.log && s.log.shared !== true ? [keyOf(s.log)] : [])));
    for (const [key, log] of this.#byKey) {
      if (used.has(key)) continue;
      this.#byKey.delete(key);
      void closeLogger(log);
    }
  }

  /** Closes the files; `closed` resolves once they are flushed. */
  close(): void {
    const all = [...this.#byKey.values()].map(closeLogger);
    this.#byKey.clear();
    this.closed = Promise.all(all).then(() => undefined);
  }

  closed: Promise<void> = Promise.resolve();
}

/** One logger per output, format and level. */
function keyOf(c: NonNullable<SiteConfig['log']>): string {
  const { pos: _pos, name: _name, ...settings } = c;
  return JSON.stringify(settings);
}

export interface AccessEvent {
  readonly req: Req;
  readonly res: Res;
  readonly ctx: RequestContext;
  /** The request target as received. */
  readonly uri: string;
  readonly durationMs: number;
  /** Body bytes sent. */
  readonly size: number;
  /** The listener's port (its `servers` block decides log_credentials). */
  readonly port: number;
  readonly config: Config;
  /** connectionOf(req), taken while the request runs: an HTTP/2 stream has no session once closed. */
  readonly connection: Connection;
}

/** What the access log says of the connection: the peer's port, and TLS as Caddy logs it. */
export interface Connection {
  readonly remotePort: string;
  readonly tls?: Record<string, unknown>;
}

export function connectionOf(req: Req, scheme: 'http' | 'https'): Connection {
  const socket = req.socket as Partial<TLSSocket> | null;
  const tls = scheme === 'https' && typeof socket?.getProtocol === 'function' ? tlsFields(socket as TLSSocket) : undefined;
  return { remotePort: String(socket?.remotePort ?? ''), ...(tls !== undefined ? { tls } : {}) };
}

/** Headers Caddy logs as REDACTED unless the servers block sets log_credentials. */
const CREDENTIALS = new Set(['cookie', 'set-cookie', 'authorization', 'proxy-authorization']);

/**
 * The access-log entry with Caddy's fields (modules/caddyhttp/server.go logRequest and
 * LoggableHTTPRequest): request{remote_ip, remote_port, client_ip, proto, method, host, uri,
 * headers, tls}, user_id, duration (seconds), size, status, resp_headers. Header names are in Go's
 * canonical form (User-Agent), each with an array of values, so `format filter` fields such as
 * request>headers>User-Agent name them as in Caddy. bytes_read is not logged (not counted here).
 */
export function accessEntry(e: AccessEvent): Record<string, unknown> {
  const { req, res, ctx } = e;
  const block = serverOptionsFor(e.config.globals.servers, e.port);
  const credentials = block?.logCredentials === true;
  const { tls } = e.connection;
  return {
    request: {
      remote_ip: ctx.remoteAddress,
      remote_port: e.connection.remotePort,
      client_ip: ctx.clientIp ?? ctx.remoteAddress,
      proto: `HTTP/${req.httpVersion}`,
      method: req.method,
      host: requestHost(req),
      uri: e.uri,
      // Go keeps Host out of the header map (it is the host field), so Caddy never logs it there.
      headers: loggableHeaders(req.headers, credentials, 'host'),
      ...(tls !== undefined ? { tls } : {}),
    },
    user_id: ctx.values?.get('http.auth.user.id') ?? '',
    duration: e.durationMs / 1000,
    size: e.size,
    status: res.statusCode,
    resp_headers: loggableHeaders(res.getHeaders(), credentials),
    ...(ctx.upstream !== undefined ? { upstream: ctx.upstream } : {}),
  };
}

function loggableHeaders(headers: Record<string, string | string[] | number | undefined>, credentials: boolean, without?: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    // HTTP/2 pseudo-headers are the request line, logged as its own fields.
    if (value === undefined || name.startsWith(':') || name === without) continue;
    const values = Array.isArray(value) ? value : [String(value)];
    out[canonicalHeaderName(name)] = !credentials && CREDENTIALS.has(name.toLowerCase()) ? values.map(() => 'REDACTED') : values;
  }
  return out;
}

const TLS_VERSIONS: Readonly<Record<string, number>> = { TLSv1: 0x0301, 'TLSv1.1': 0x0302, 'TLSv1.2': 0x0303, 'TLSv1.3': 0x0304 };

/** Caddy's LoggableTLSConnState: version as its number (772 is TLS 1.3); the cipher suite by its IANA name. */
function tlsFields(s: TLSSocket): Record<string, unknown> {
  const cipher = s.getCipher?.();
  const servername = (s as TLSSocket & { servername?: string | false }).servername;
  return {
    resumed: s.isSessionReused?.() ?? false,
    version: TLS_VERSIONS[s.getProtocol?.() ?? ''] ?? 0,
    cipher_suite: cipher?.standardName ?? cipher?.name ?? '',
    proto: typeof s.alpnProtocol === 'string' ? s.alpnProtocol : '',
    server_name: typeof servername === 'string' ? servername : '',
  };
}
