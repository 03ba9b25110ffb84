/** A plain-HTTP server on 127.0.0.1:0 for routes tests, and a client that returns the raw body bytes. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostWithoutPort, requestHost, type RequestContext } from '../../../src/routes/context.ts';

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

/** The context the app builds for a request (src/app.ts #onRequest). */
export function contextOf(req: http.IncomingMessage): RequestContext {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    scheme: 'http',
    remoteAddress: req.socket.remoteAddress ?? '',
    host: hostWithoutPort(requestHost(req)),
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
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
