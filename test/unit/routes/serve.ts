/**
 * A plain-HTTP server on 127.0.0.1:0 for routes tests, and a client that returns the raw body
 * bytes. `serveSites` serves a Proxyfile's sites through the real request path (src/http).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Generation } from '../../../src/app/generation.ts';
import type { Issuer } from '../../../src/certs/issuer.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { RequestHandler } from '../../../src/http/request-handler.ts';
import { requestContext } from '../../../src/http/request-target.ts';
import { silentLogger } from '../../../src/log.ts';
import type { RequestContext } from '../../../src/routes/context.ts';
import { SiteTable } from '../../../src/routes/site-table.ts';
import { TLS_CONTEXT_OPTIONS } from '../../../src/tls/tls-front.ts';

export interface Served {
  readonly port: number;
  close(): Promise<void>;
}

export async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>): Promise<Served> {
  const server = http.createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      res.statusCode = 599;
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The context the request path builds for a request (src/http/request-target.ts): cleaned path, unmapped address. */
export function contextOf(req: http.IncomingMessage): RequestContext {
  const ctx = requestContext(req, 'http');
  if (!ctx) throw new Error(`the path of ${req.url} does not decode (the request path answers 400)`);
  return ctx;
}

/**
 * The `http://` sites of `proxyfile` served on 127.0.0.1:0 by the real request handler, as the
 * listener of `configPort` (the port the Proxyfile gives them) would serve them.
 */
export async function serveSites(proxyfile: string, configPort: number): Promise<Served> {
  const config = await parseConfig(proxyfile, { filename: 'test' });
  const issuer = (): Issuer => {
    throw new Error('serveSites serves http:// sites only');
  };
  const gen = await Generation.build(config, { for: issuer }, silentLogger(), TLS_CONTEXT_OPTIONS);
  const handler = new RequestHandler({ generation: () => gen, http01: () => [], accessLogs: { for: () => undefined }, log: silentLogger() });
  const served = await serve((req, res) => handler.handle(req, res, 'http', configPort));
  return {
    port: served.port,
    close: async () => {
      await served.close();
      await gen.close();
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** As received: still compressed when the server compressed it. */
  readonly body: Buffer;
  /** The raw header lines, for checking repeated headers. */
  readonly rawHeaders: string[];
}

export function get(port: number, path: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), rawHeaders: res.rawHeaders }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Serves the http:8080 site table of `proxyfile` on 127.0.0.1:0, by Host as the app does. */
export type Request = (path: string, host?: string, headers?: Record<string, string>, method?: string) => ReturnType<typeof get>;

export async function withSites(proxyfile: string, fn: (request: Request) => Promise<void>): Promise<void> {
  const config = await parseConfig(proxyfile, { filename: 'test' });
  const table = new SiteTable(config.sites, 'http', 8080, silentLogger());
  const s = await serve(async (req, res) => {
    const ctx = contextOf(req);
    const router = table.find(ctx.host);
    if (!router) {
      res.statusCode = 404;
      res.end('no site');
      return;
    }
    await router.handle(req, res, ctx);
  });
  try {
    await fn((path, host = 'site.test', headers = {}, method = 'GET') => get(s.port, path, { host, ...headers }, method));
  } finally {
    await s.close();
    await table.close();
  }
}
