import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** An on-demand TLS `ask` endpoint on 127.0.0.1. */
export interface AskServer {
  /** `http://127.0.0.1:PORT/ask`, for `on_demand_tls { ask URL }`. */
  readonly url: string;
  /** Every `domain` asked about, in order. */
  readonly asked: string[];
  close(): Promise<void>;
}

/** Answers 200 for each `?domain=` that `allow` accepts, else 403, and records every one asked about. */
export async function startAsk(allow: (domain: string) => boolean): Promise<AskServer> {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const domain = new URL(req.url ?? '/', 'http://x').searchParams.get('domain') ?? '';
    asked.push(domain);
    res.writeHead(allow(domain) ? 200 : 403).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/ask`,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
