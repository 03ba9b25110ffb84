import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReverseProxy, type ReverseProxyOptions } from '../../../src/proxy/reverse-proxy.ts';
import { reverseProxyDefaults } from '../../../src/config/defaults.ts';
import type { LoadBalancingConfig, ReverseProxyConfig, UpstreamConfig } from '../../../src/config/types.ts';

/** A server listening on 127.0.0.1 and a close() that also drops idle keep-alive connections. */
export interface Running {
  readonly port: number;
  readonly server: http.Server;
  close(): Promise<void>;
}

export async function listen(server: http.Server, port = 0): Promise<Running> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function upstream(handler: http.RequestListener, port = 0): Promise<Running> {
  return listen(http.createServer(handler), port);
}

export function upstreamConfig(port: number): UpstreamConfig {
  return { scheme: 'http', host: '127.0.0.1', port };
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const s = await listen(http.createServer());
  await s.close();
  return s.port;
}

/** The defaults for upstreams on these ports, with some fields replaced (`lb` field by field). */
export function proxyConfig(
  ports: readonly number[],
  overrides: Partial<Omit<ReverseProxyConfig, 'lb'>> & { lb?: Partial<LoadBalancingConfig> } = {},
): ReverseProxyConfig {
  const defaults = reverseProxyDefaults(ports.map(upstreamConfig));
  return { ...defaults, ...overrides, lb: { ...defaults.lb, ...overrides.lb } };
}

/** A plain-HTTP front server that hands every request (and upgrade) to a ReverseProxy. */
export async function front(config: ReverseProxyConfig, options: ReverseProxyOptions = {}): Promise<Running & { proxy: ReverseProxy }> {
  const proxy = new ReverseProxy(config, options);
  const server = http.createServer((req, res) => {
    void proxy.handle(req, res, { scheme: 'http', remoteAddress: req.socket.remoteAddress ?? '' });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
    void proxy.upgrade(req, socket, head, { scheme: 'http', remoteAddress: req.socket.remoteAddress ?? '' });
  });
  const running = await listen(server);
  return {
    ...running,
    proxy,
    close: async () => {
      await running.close();
      await proxy.close();
    },
  };
}

export interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request without keep-alive, so tests never leave pooled sockets behind. */
export function request(
  port: number,
  options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * How a GET of / ends for the client: 'clean end' when the body ends normally, else 'error' or
 * 'aborted'; never rejects. A proxy must not turn an upstream cut off mid-body into a clean end.
 */
export function responseEnding(port: number): Promise<'clean end' | 'error' | 'aborted'> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve('clean end'));
        res.on('error', () => resolve('error'));
        res.on('aborted', () => resolve('aborted'));
      })
      .on('error', () => resolve('error'));
  });
}

/** An upstream that answers with its own name and echoes what it received as JSON. */
export function echoUpstream(name: string, port = 0): Promise<Running> {
  return upstream((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const payload = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
      res.end(payload);
    });
  }, port);
}

export interface Echo {
  readonly name: string;
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function parseEcho(res: Response): Echo {
  return JSON.parse(res.body) as Echo;
}
