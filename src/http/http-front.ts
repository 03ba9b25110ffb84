import * as http from '../util/node-http.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.ts';
import { Acceptors } from '../util/listen.ts';
import { drainSockets } from '../util/drain.ts';
import { applyLimits, connectionLimits, serverCreateOptions, WriteDeadline, type ConnectionLimits, type ListenerProtocols } from '../util/timeouts.ts';
import { acceptsUpgrade, answerClientError } from './http1-rules.ts';
import { readPreface } from './h2c.ts';

export interface HttpFrontOptions {
  /** HTTP/1.1 requests, and HTTP/2 ones when `protocols` has h2c. */
  readonly onRequest: (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  readonly log: Logger;
  /** Absent: the defaults (util/timeouts.ts). */
  readonly limits?: ConnectionLimits;
}

/**
 * A plain-HTTP listener (http_port, or the port of an `http://` site). What it does with a request
 * (HTTP-01 answers, the 308 to HTTPS, `http://` sites) is onRequest's (request-handler.ts); this
 * class owns the connection side: timeouts, which upgrades are upgrades, answers to requests the
 * parser refused, HTTP/2 with prior knowledge (h2c), and a graceful close.
 *
 * With `protocols` h1 only (the default) every connection goes straight to the HTTP/1.1 server.
 * With h2c, or without h1, its first bytes decide (h2c.ts): the HTTP/2 connection preface goes to
 * an HTTP/2 server, anything else to HTTP/1.1; a connection of a protocol the block leaves out is
 * closed unanswered, as current Caddy's listener does (caddyhttp http2listener.go). The h2c
 * `Upgrade` header (RFC 7540 §3.2) stays unanswered, HTTP/1.1 serves the request: RFC 9113 §3.1
 * deprecates that path and Node has no server side for it (Caddy 2.6 still upgrades).
 */
export class HttpFront {
  readonly #server: http.Server;
  readonly #h2c: http2.Http2Server;
  readonly #acceptors: Acceptors;
  /** Every connection, upgraded and HTTP/2 ones included (http.Server forgets the former). */
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Set<Http2Session>();
  readonly #deadline = new WriteDeadline();
  #keepaliveIntervalMs: number | undefined;
  #protocols: ListenerProtocols;
  /** How long a connection may take to send the bytes that tell its protocol. */
  #prefaceMs: number;
  #closed = false;

  constructor(o: HttpFrontOptions) {
    const limits = o.limits ?? connectionLimits(undefined);
    this.#protocols = limits.protocols;
    this.#prefaceMs = limits.headersMs;
    const onRequest = this.#deadline.wrap(o.onRequest);
    this.#server = http.createServer({ shouldUpgradeCallback: acceptsUpgrade, ...serverCreateOptions(limits) }, onRequest);
    this.#h2c = http2.createServer({ settings: { maxConcurrentStreams: 250 } }, onRequest);
    this.#h2c.on('session', (s: Http2Session) => {
      this.#sessions.add(s);
      s.once('close', () => this.#sessions.delete(s));
    });
    this.configure(limits);
    this.#server.on('upgrade', o.onUpgrade);
    this.#server.on('clientError', answerClientError);
    this.#acceptors = new Acceptors(this.#server, o.log, (socket) => this.#accept(socket));
  }

  configure(limits: ConnectionLimits): void {
    applyLimits(this.#server, limits);
    this.#h2c.setTimeout(limits.idleMs);
    this.#keepaliveIntervalMs = limits.keepaliveIntervalMs;
    this.#protocols = limits.protocols;
    this.#prefaceMs = limits.headersMs;
    this.#deadline.ms = limits.writeMs;
  }

  #accept(socket: Socket): void {
    const p = this.#protocols;
    if (!p.h1 && !p.h2c) return void socket.destroy();
    if (this.#keepaliveIntervalMs !== undefined) socket.setKeepAlive(true, this.#keepaliveIntervalMs);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    if (p.h1 && !p.h2c) return void this.#server.emit('connection', socket);
    // The socket is ours while its first bytes are read: an error then must not go uncaught.
    socket.on('error', () => {});
    void readPreface(socket, this.#prefaceMs).then((kind) => {
      if (kind === undefined || this.#closed || socket.destroyed) return void socket.destroy();
      if (kind === 'h2c' && p.h2c) {
        this.#h2c.emit('connection', socket);
      } else if (kind === 'h1' && p.h1) {
        this.#server.emit('connection', socket);
        // The HTTP/1 parser reads the socket's handle from here; the bytes already read wait in
        // the paused stream and reach it as 'data' once resumed (before any newer read).
        socket.resume();
      } else {
        socket.destroy();
      }
    });
  }

  listen(port: number, hosts: readonly (string | undefined)[]): Promise<void> {
    return this.#acceptors.listen(port, hosts);
  }

  async close(graceMs: number): Promise<void> {
    this.#closed = true;
    this.#acceptors.close();
    // HTTP/2 sessions get GOAWAY and end once their streams are done.
    for (const s of this.#sessions) s.close();
    await drainSockets(this.#sockets, this.#server, graceMs);
  }
}
