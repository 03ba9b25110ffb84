/**
 * Helpers for the handler directive tests: an echo upstream that reports what it received, and a
 * site served through the real SiteRouter with the request context kept for inspection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../../src/config/index.ts';
import { silentLogger } from '../../../src/log.ts';
import type { RequestContext } from '../../../src/routes/context.ts';
import type { MetricsSource } from '../../../src/routes/handlers/request.ts';
import { SiteRouter } from '../../../src/routes/site-router.ts';
import { contextOf, get, serve, type Reply } from './serve.ts';

export interface Echo {
  readonly port: number;
  /** Each request as it arrived: body bytes counted as they come; complete once it ended, closed once gone. */
  readonly seen: { method: string; url: string; headers: http.IncomingHttpHeaders; bytes: number; complete: boolean; closed: boolean }[];
  close(): Promise<void>;
}

/** An upstream that answers `METHOD URL` plus the headers named in X-Echo, and counts body bytes. */
export async function echoUpstream(): Promise<Echo> {
  const seen: Echo['seen'] = [];
  const server = http.createServer((req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes: 0, complete: false, closed: false };
    seen.push(entry);
    req.on('data', (c: Buffer) => (entry.bytes += c.length));
    req.on('end', () => {
      entry.complete = true;
      res.end(`${req.method} ${req.url}`);
    });
    req.on('error', () => {});
    req.on('close', () => (entry.closed = true));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type Request = (path: string, headers?: Record<string, string>, method?: string) => Promise<Reply>;

/**
 * The first site of `proxyfile` behind a real SiteRouter on 127.0.0.1:0; `contexts` holds each
 * request's context after the router ran, for the values and variables handlers set.
 */
export async function withRouter(
  proxyfile: string,
  fn: (request: Request, contexts: RequestContext[], port: number) => Promise<void>,
  options: { metrics?: MetricsSource } = {},
): Promise<void> {
  const config = await parseConfig(proxyfile, { filename: 'test' });
  const site = config.sites[0];
  if (site === undefined) throw new Error('no site');
  const router = new SiteRouter(site, silentLogger(), options);
  const contexts: RequestContext[] = [];
  const s = await serve(async (req, res) => {
    const ctx = contextOf(req);
    contexts.push(ctx);
    await router.handle(req, res, ctx);
  });
  try {
    await fn((path, headers = {}, method = 'GET') => get(s.port, path, { host: 'site.test', ...headers }, method), contexts, s.port);
  } finally {
    await s.close();
    await router.close();
  }
}
