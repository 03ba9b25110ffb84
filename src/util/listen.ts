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

/**
 * How site listeners bind. `alone`: one process, a port in use is an error (EADDRINUSE). Under
 * `workers N` (cluster/worker.ts): `reuseport`, each worker binds its own socket with SO_REUSEPORT
 * and the kernel spreads new connections over them; `primary`, node:cluster's primary accepts and
 * hands connections to the workers (where the kernel refuses SO_REUSEPORT, or when asked to).
 */
export type ListenSharing = 'alone' | 'reuseport' | 'primary';

let sharing: ListenSharing = 'alone';
let onFallback: ((err: NodeJS.ErrnoException) => void) | undefined;

/** Set once by a worker before it binds anything; `fallback` hears of a fall back to `primary`. */
export function shareListeners(mode: ListenSharing, fallback?: (err: NodeJS.ErrnoException) => void): void {
  sharing = mode;
  onFallback = fallback;
}

/** Errors of a kernel (or a sandbox) without SO_REUSEPORT: bind through the primary instead. */
const NO_REUSEPORT = new Set(['ENOTSUP', 'EOPNOTSUPP', 'ENOPROTOOPT', 'EINVAL']);

async function listenOne(server: net.Server, port: number, host: string | undefined): Promise<void> {
  if (sharing !== 'reuseport') return listenWith(server, port, host, {});
  try {
    // exclusive: a cluster worker binds the socket itself instead of asking the primary for one.
    await listenWith(server, port, host, { reusePort: true, exclusive: true });
  } catch (err) {
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    if (cause?.code === undefined || !NO_REUSEPORT.has(cause.code)) throw err;
    sharing = 'primary';
    onFallback?.(cause);
    await listenWith(server, port, host, {});
  }
}

function listenWith(server: net.Server, port: number, host: string | undefined, extra: net.ListenOptions): Promise<void> {
  const where = `${host === undefined ? '*' : host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new MyServerError('MS_ERR_LISTEN', `listening on ${where}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ port, ...(host !== undefined ? { host } : {}), ...extra }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
