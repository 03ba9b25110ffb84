import net from 'node:net';
import { MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * Accepting sockets on several addresses for one protocol server (a tls.Server or http.Server):
 * one net.Server per address hands its connections to the protocol server, which never listens
 * itself. A Node server can listen on one address only, and `default_bind` may name several.
 */
export class Acceptors {
  readonly #target: net.Server;
  readonly #log: Logger;
  readonly #servers: net.Server[] = [];
  readonly #accept: (socket: net.Socket) => void;

  /** `accept` takes each new socket; by default it is handed straight to `target`. */
  constructor(target: net.Server, log: Logger, accept?: (socket: net.Socket) => void) {
    this.#target = target;
    this.#log = log;
    this.#accept = accept ?? ((socket) => this.#target.emit('connection', socket));
    // An http.Server tracks its connections (for headersTimeout and closeIdleConnections) from
    // its 'listening' event; it never listens here, so it is told once that it does.
    target.emit('listening');
  }

  /**
   * Listen on `port` at each host (all interfaces for undefined); rejects with MS_ERR_LISTEN naming
   * the address, e.g. "listening on 127.0.0.1:443: EACCES", and then listens nowhere.
   */
  async listen(port: number, hosts: readonly (string | undefined)[]): Promise<void> {
    try {
      for (const host of hosts) {
        const server = net.createServer({ pauseOnConnect: false }, this.#accept);
        this.#servers.push(server);
        await listenOne(server, port, host);
        // After binding, accept errors (EMFILE) are logged, never thrown at the process.
        server.on('error', (err) => this.#log.error({ err, port, host }, 'accepting connections failed'));
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Stop accepting; connections already handed over are the protocol server's to close. */
  close(): void {
    for (const s of this.#servers.splice(0)) s.close();
  }
}

function listenOne(server: net.Server, port: number, host: string | undefined): Promise<void> {
  const where = `${host === undefined ? '*' : host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new MyServerError('MS_ERR_LISTEN', `listening on ${where}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ port, ...(host !== undefined ? { host } : {}) }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
