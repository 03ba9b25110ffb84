/**
 * Listeners that answer only ACME challenges, for `my-server certs obtain` (which runs without the
 * proxy): HTTP-01 on the HTTP port, TLS-ALPN-01 on the HTTPS port. Every other request gets 404
 * and every other TLS handshake fails.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from '../util/node-http.ts';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { MyServerError } from '../errors.ts';
import type { Http01Solver } from './http-01.ts';
import { createAcmeTlsServerOptions, type TlsAlpn01Solver } from './tls-alpn-01.ts';

export interface ChallengeServersOptions {
  /** Listen for HTTP-01 on `httpPort` when given. */
  readonly http01?: Http01Solver;
  /** Listen for TLS-ALPN-01 on `httpsPort` when given. */
  readonly tlsAlpn01?: TlsAlpn01Solver;
  readonly httpPort?: number;
  readonly httpsPort?: number;
  /** The address to bind; all interfaces when undefined. */
  readonly host?: string;
}

/** Bounds how long a stray client can hold a connection to a challenge-only listener. */
const IDLE_TIMEOUT_MS = 10_000;

export class ChallengeServers {
  readonly #http: HttpServer | undefined;
  readonly #tls: TlsServer | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor(http: HttpServer | undefined, tls: TlsServer | undefined) {
    this.#http = http;
    this.#tls = tls;
    for (const server of [http, tls]) {
      server?.on('connection', (socket: Socket) => {
        this.#sockets.add(socket);
        socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
        socket.once('close', () => this.#sockets.delete(socket));
      });
    }
  }

  /**
   * Starts the listeners for the solvers given. Rejects with MS_ERR_CHALLENGE_FAILED when a port
   * cannot be bound (nothing stays listening then), MS_ERR_ABORTED when `signal` aborts first.
   */
  static async listen(options: ChallengeServersOptions, signal?: AbortSignal): Promise<ChallengeServers> {
    const { http01, tlsAlpn01 } = options;
    const http =
      http01 !== undefined && options.httpPort !== undefined
        ? createHttpServer((req, res) => {
            http01.handleHttp01(req, res).then(
              (answered) => {
                if (!answered) res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
              },
              () => res.destroy(),
            );
          })
        : undefined;
    const tls =
      tlsAlpn01 !== undefined && options.httpsPort !== undefined
        ? createTlsServer({ ...createAcmeTlsServerOptions({ solver: tlsAlpn01, alpnProtocols: [] }) }, (socket) => {
            // RFC 8737 §4: the validator closes the connection once it has the certificate; no data follows.
            socket.end();
          })
        : undefined;
    const servers = new ChallengeServers(http, tls);
    try {
      await Promise.all([
        http === undefined ? undefined : listenOn(http, options.httpPort, options.host, signal),
        tls === undefined ? undefined : listenOn(tls, options.httpsPort, options.host, signal),
      ]);
    } catch (err) {
      await servers.close();
      throw err;
    }
    return servers;
  }

  /** The bound HTTP address, when listening for HTTP-01. */
  get httpAddress(): AddressInfo | undefined {
    return (this.#http?.address() ?? undefined) as AddressInfo | undefined;
  }

  /** The bound HTTPS address, when listening for TLS-ALPN-01. */
  get httpsAddress(): AddressInfo | undefined {
    return (this.#tls?.address() ?? undefined) as AddressInfo | undefined;
  }

  /** Stops listening and drops open connections; resolves when both servers are closed. */
  async close(): Promise<void> {
    const closing = [this.#http, this.#tls].map(
      (server) =>
        new Promise<void>((resolve) => {
          if (server === undefined || !server.listening) return resolve();
          server.close(() => resolve());
        }),
    );
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(closing);
  }
}

async function listenOn(server: HttpServer | TlsServer, port: number | undefined, host: string | undefined, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw new MyServerError('MS_ERR_ABORTED', 'starting challenge listeners', { cause: signal.reason });
  server.listen({ port, host, signal });
  try {
    await once(server, 'listening', { signal });
  } catch (err) {
    if (signal?.aborted) throw new MyServerError('MS_ERR_ABORTED', 'starting challenge listeners', { cause: err });
    const where = `${host ?? '*'}:${String(port)}`;
    throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `listening on ${where} for ACME challenges`, { cause: err });
  }
}
