import * as http from '../util/node-http.ts';
import net from 'node:net';
import { chmod, lstat, unlink } from 'node:fs/promises';
import type { Logger } from '../log.ts';
import { MyServerError, causeChain, describeError } from '../errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { isLoopbackHostname, hostnameOf, parseAdminAddress, type AdminListen } from './admin-address.ts';
import { RequestPolicy } from './request-policy.ts';
import { readBody } from './read-body.ts';
import { currentStorageState } from '../storage/availability.ts';

/**
 * What the admin API drives. The app runs load() and reload() in the one queue of config changes
 * it also feeds from SIGHUP and the file watcher (App.reload), so they never overlap; the admin
 * server only forwards them.
 *
 * An implementation must not await AdminServer.close() inside these calls (say, when the new
 * config moves the admin address): close() waits for the request in flight, which waits for the
 * call. Swap the admin server after the call has returned.
 */
export interface AdminApp {
  /**
   * Adapts and applies Proxyfile text. Rejects with a MyServerError of code MS_ERR_CONFIG
   * (ConfigError) whose message is one `FILE:LINE:COL: message` line per issue when the text is
   * invalid (answered 400), or with another error when applying it failed (answered 500).
   */
  load(text: string, contentType: string): Promise<void>;
  /** Reads the config file again and applies it; rejects as load() does. */
  reload(): Promise<void>;
  /** The certificates being served, as JSON-ready objects. Must not contain private keys. */
  certificates(): Promise<unknown[]>;
}

export interface AdminServerOptions {
  /** `localhost:2019`, `host:port`, `[::1]:port`, `:port` or `unix//path`. */
  readonly address: string;
  readonly app: AdminApp;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Largest accepted /load body; default 1 MiB. */
  readonly maxBodyBytes?: number;
}

/** A Proxyfile is a few kilobytes; a megabyte leaves room for generated ones without inviting abuse. */
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** How long close() lets requests in flight finish before cutting their connections. */
const CLOSE_GRACE_MS = 5000;
/** Bounds a slow client's hold on the (single-purpose) admin listener. */
const REQUEST_TIMEOUT_MS = 30_000;
const LOAD_TYPES = new Set(['text/caddyfile', 'text/proxyfile']);

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
interface Route {
  readonly methods: readonly string[];
  readonly handle: Handler;
}

/**
 * The admin HTTP API (SPEC "Admin API"):
 *   GET  /health        200 "ok"; with Accept: application/json, {"status":"ok","storage":{…}}
 *   POST /load          Proxyfile text (Content-Type text/caddyfile or text/proxyfile) → 200;
 *                       400 with the config errors; 413 over maxBodyBytes; 415 other types
 *   POST /reload        200; 400 with the config errors; 500 with the reason
 *   GET  /certificates  JSON array from AdminApp.certificates()
 *   GET  /metrics       Prometheus text from Metrics
 * Unknown paths are 404; a known path with another method is 405 with Allow. Requests whose Host
 * or Origin fail RequestPolicy are 403 before any route runs.
 *
 * It binds exactly the address it is given; deciding whether a non-loopback address is wanted is
 * the config's business (such a bind is logged as a warning). A Unix socket is made 0600.
 */
export class AdminServer {
  readonly #listen: AdminListen;
  readonly #address: string;
  readonly #app: AdminApp;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #maxBody: number;
  readonly #policy: RequestPolicy;
  readonly #routes: ReadonlyMap<string, Route>;
  readonly #server: http.Server;
  #closing = false;
  #closed: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    this.#listen = parseAdminAddress(options.address);
    this.#address = options.address;
    this.#app = options.app;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#policy = new RequestPolicy(this.#listen);
    this.#routes = new Map<string, Route>([
      ['/health', { methods: ['GET', 'HEAD'], handle: (req, res) => this.#health(req, res) }],
      ['/load', { methods: ['POST'], handle: (req, res) => this.#load(req, res) }],
      ['/reload', { methods: ['POST'], handle: (_req, res) => this.#reload(res) }],
      ['/certificates', { methods: ['GET', 'HEAD'], handle: (_req, res) => this.#certificates(res) }],
      ['/metrics', { methods: ['GET', 'HEAD'], handle: (_req, res) => this.#metricsText(res) }],
    ]);
    this.#server = http.createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
      this.#dispatch(req, res).catch((err: unknown) => this.#fail(res, err));
    });
  }

  /** The bound address (port 0 resolved), or the socket path; null before listen(). */
  address(): net.AddressInfo | string | null {
    return this.#server.address();
  }

  /** Binds the address. Rejects with MS_ERR_LISTEN when it cannot (in use, not local, no permission). */
  async listen(): Promise<void> {
    const l = this.#listen;
    try {
      if (l.kind === 'unix') {
        await this.#listenUnix(l.path);
      } else {
        await listenOnce(this.#server, { port: l.port, ...(l.bindHost === undefined ? {} : { host: l.bindHost }) });
        const bound = this.#server.address();
        if (bound !== null && typeof bound !== 'string') this.#policy.port = bound.port;
      }
    } catch (err) {
      throw new MyServerError('MS_ERR_LISTEN', `starting the admin API on ${this.#address}`, { cause: err });
    }
    if (l.kind === 'tcp' && !isLoopbackBind(l)) {
      this.#log.warn({ address: this.#address }, `admin API listening on a non-loopback address (${this.#address}); anyone who can reach it can load a config`);
    } else {
      this.#log.info({ address: this.#address }, 'admin API listening');
    }
  }

  /**
   * Stops accepting connections and resolves once every connection has closed. Idle keep-alive
   * connections close at once; requests in flight get CLOSE_GRACE_MS to finish.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const force = setTimeout(() => this.#server.closeAllConnections(), CLOSE_GRACE_MS);
    force.unref();
    try {
      await closed;
    } finally {
      clearTimeout(force);
    }
  }

  async #listenUnix(path: string): Promise<void> {
    try {
      await listenOnce(this.#server, { path });
    } catch (err) {
      // A socket file left by a process that died is in the way; one that answers is not ours to
      // take, and anything but a socket (a mistyped path to a real file) is never deleted.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      if (!(await lstat(path)).isSocket() || (await socketAnswers(path))) throw err;
      await unlink(path);
      await listenOnce(this.#server, { path });
    }
    // The API can replace the whole config: only the owner may talk to it.
    await chmod(path, 0o600);
  }

  async #dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.#closing) res.setHeader('Connection', 'close');
    const refusal = this.#policy.refusal(req.headers);
    if (refusal !== undefined) {
      this.#log.warn({ host: req.headers.host, origin: req.headers.origin, url: req.url }, `admin API refused a request: ${refusal}`);
      send(res, 403, `${refusal}\n`);
      return;
    }
    const path = URL.parse(req.url ?? '', 'http://admin.invalid')?.pathname;
    const route = path === undefined ? undefined : this.#routes.get(path);
    if (route === undefined) {
      send(res, 404, 'not found\n');
      return;
    }
    if (!route.methods.includes(req.method ?? '')) {
      send(res, 405, 'method not allowed\n', { Allow: route.methods.join(', ') });
      return;
    }
    this.#log.debug({ method: req.method, path }, 'admin request');
    await route.handle(req, res);
  }

  /**
   * 200 while the process serves, also while its storage is unreachable (it serves the
   * certificates it holds): a load balancer must not pull every instance out because Redis is
   * down. The JSON form says how the storage is doing.
   */
  #health(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!/\bapplication\/json\b/i.test(req.headers.accept ?? '')) {
      send(res, 200, 'ok');
      return Promise.resolve();
    }
    const storage = currentStorageState();
    const body = { status: 'ok', ...(storage !== undefined ? { storage: { ...storage, since: storage.since.toISOString() } } : {}) };
    send(res, 200, `${JSON.stringify(body)}\n`, { 'Content-Type': 'application/json' });
    return Promise.resolve();
  }

  async #load(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const type = mediaType(req.headers['content-type']);
    if (type === undefined || !LOAD_TYPES.has(type)) {
      send(res, 415, `unsupported Content-Type ${req.headers['content-type'] ?? '(none)'}; use text/caddyfile or text/proxyfile\n`);
      return;
    }
    const read = await readBody(req, this.#maxBody);
    if (!read.ok) {
      // What is left of the body is not read; closing is cheaper than draining it.
      send(res, 413, `config larger than ${this.#maxBody} bytes\n`, { Connection: 'close' });
      return;
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(read.body);
    } catch {
      send(res, 400, 'config is not valid UTF-8\n');
      return;
    }
    await this.#change(res, 'loading config', () => this.#app.load(text, type));
  }

  async #reload(res: http.ServerResponse): Promise<void> {
    await this.#change(res, 'reloading config', () => this.#app.reload());
  }

  /** Runs a config change (queued by the app) and answers 200, 400 or 500. */
  async #change(res: http.ServerResponse, context: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const invalid = configErrorIn(err);
      if (invalid !== undefined) {
        send(res, 400, `${invalid.message}\n`);
      } else {
        this.#log.error({ err }, `admin API: ${context} failed: ${describeError(err)}`);
        send(res, 500, `${context}: ${describeError(err)}\n`);
      }
      return;
    }
    this.#log.info(`admin API: ${context} done`);
    send(res, 200, '');
  }

  async #certificates(res: http.ServerResponse): Promise<void> {
    const list = await this.#app.certificates();
    send(res, 200, `${JSON.stringify(list, withoutPrivateKeys, 2)}\n`, { 'Content-Type': 'application/json' });
  }

  async #metricsText(res: http.ServerResponse): Promise<void> {
    send(res, 200, await this.#metrics.text(), { 'Content-Type': this.#metrics.contentType });
  }

  #fail(res: http.ServerResponse, err: unknown): void {
    this.#log.error({ err }, `admin API: ${describeError(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, 500, `${describeError(err)}\n`);
  }
}

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
    'Content-Length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** The first MS_ERR_CONFIG error in the cause chain: the app may wrap the ConfigError with context. */
function configErrorIn(err: unknown): MyServerError | undefined {
  for (const cur of causeChain(err)) {
    if (cur instanceof MyServerError && cur.code === 'MS_ERR_CONFIG') return cur;
  }
  return undefined;
}

/** "text/caddyfile; charset=utf-8" → "text/caddyfile". */
function mediaType(header: string | undefined): string | undefined {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return type === '' ? undefined : type;
}

/** Defence in depth for AdminApp.certificates(): a PEM private key never leaves the process. */
function withoutPrivateKeys(_key: string, value: unknown): unknown {
  return typeof value === 'string' && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value) ? undefined : value;
}

function isLoopbackBind(l: AdminListen & { kind: 'tcp' }): boolean {
  if (l.bindHost === undefined) return false;
  const hostname = hostnameOf(net.isIP(l.bindHost) === 6 ? `[${l.bindHost}]` : l.bindHost);
  return hostname !== undefined && isLoopbackHostname(hostname);
}

function listenOnce(server: http.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(options, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Whether something accepts connections on the Unix socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
