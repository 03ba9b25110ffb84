import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.ts';
import { listen, type Listening } from '../util/listen.ts';
import { TIMEOUTS } from '../tls/tls-front.ts';

export interface HttpFrontOptions {
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  readonly log: Logger;
}

/**
 * A plain-HTTP listener (http_port, or the port of an `http://` site). What it does with a request
 * (HTTP-01 answers, the 308 to HTTPS, `http://` sites) is the app's onRequest; this class owns the
 * socket side: timeouts and a graceful close.
 */
export class HttpFront {
  readonly #server: http.Server;
  #listening: Listening[] = [];

  constructor(o: HttpFrontOptions) {
    this.#server = http.createServer({ requestTimeout: 0, headersTimeout: TIMEOUTS.headersMs, keepAliveTimeout: TIMEOUTS.keepAliveMs }, o.onRequest);
    this.#server.timeout = TIMEOUTS.idleMs;
    this.#server.on('upgrade', o.onUpgrade);
  }

  async listen(port: number, hosts: readonly (string | undefined)[]): Promise<void> {
    for (const host of hosts) this.#listening.push(await listen(this.#server, port, host));
  }

  get addresses(): string[] {
    return this.#listening.map((l) => l.address);
  }

  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const sweep = setInterval(() => this.#server.closeIdleConnections(), 100);
    const deadline = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    try {
      await closed;
    } finally {
      clearInterval(sweep);
      clearTimeout(deadline);
    }
  }
}
