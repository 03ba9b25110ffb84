import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.ts';
import { Acceptors } from '../util/listen.ts';
import { drainSockets } from '../util/drain.ts';
import { applyLimits, connectionLimits, serverCreateOptions, type ConnectionLimits } from '../util/timeouts.ts';
import { acceptsUpgrade, answerClientError } from './http1-rules.ts';

export interface HttpFrontOptions {
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  readonly log: Logger;
  /** Absent: the defaults (util/timeouts.ts). */
  readonly limits?: ConnectionLimits;
}

/**
 * A plain-HTTP listener (http_port, or the port of an `http://` site). What it does with a request
 * (HTTP-01 answers, the 308 to HTTPS, `http://` sites) is onRequest's (request-handler.ts); this
 * class owns the connection side: timeouts, which upgrades are upgrades, answers to requests the
 * parser refused, and a graceful close.
 */
export class HttpFront {
  readonly #server: http.Server;
  readonly #acceptors: Acceptors;
  /** Every connection, upgraded ones included (http.Server forgets those). */
  readonly #sockets = new Set<Socket>();
  #keepaliveIntervalMs: number | undefined;

  constructor(o: HttpFrontOptions) {
    const limits = o.limits ?? connectionLimits(undefined);
    this.#server = http.createServer(
      { shouldUpgradeCallback: acceptsUpgrade, ...serverCreateOptions(limits) },
      o.onRequest,
    );
    this.configure(limits);
    this.#server.on('upgrade', o.onUpgrade);
    this.#server.on('clientError', answerClientError);
    this.#server.on('connection', (socket: Socket) => {
      if (this.#keepaliveIntervalMs !== undefined) socket.setKeepAlive(true, this.#keepaliveIntervalMs);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#acceptors = new Acceptors(this.#server, o.log);
  }

  configure(limits: ConnectionLimits): void {
    applyLimits(this.#server, limits);
    this.#keepaliveIntervalMs = limits.keepaliveIntervalMs;
  }

  listen(port: number, hosts: readonly (string | undefined)[]): Promise<void> {
    return this.#acceptors.listen(port, hosts);
  }

  async close(graceMs: number): Promise<void> {
    this.#acceptors.close();
    await drainSockets(this.#sockets, this.#server, graceMs);
  }
}
