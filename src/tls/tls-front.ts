import * as http from '../util/node-http.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import type net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { createAcmeTlsServerOptions, ACME_TLS_ALPN_PROTOCOL, type ChallengeContextSource } from '../challenges/tls-alpn-01.ts';
import type { Logger } from '../log.ts';
import { Acceptors } from '../util/listen.ts';
import { unmapIPv4 } from '../util/host.ts';
import { drainSockets } from '../util/drain.ts';
import { hasSubscribers, publish } from '../diagnostics.ts';
import { alpnFor, applyLimits, connectionLimits, serverCreateOptions, TIMEOUTS, WriteDeadline, type ConnectionLimits } from '../util/timeouts.ts';
import { acceptsUpgrade, answerClientError } from '../http/http1-rules.ts';
import { readClientHello } from './hello-gate.ts';
import { isFreed } from './context-free.ts';
import { alertRecord, ALERT_UNRECOGNIZED_NAME, type HelloResult } from './client-hello.ts';

/** What the gate does with a connection (TlsFront #decide). */
type Decision =
  | undefined
  | { readonly direct: SecureContext }
  | { readonly reason: string; readonly reply: Buffer };

/** The gate's answer when the SNI name needs the certificate source (#decide, then #accept). */
interface Lookup {
  readonly lookup: string;
}

/** Built once: every refused name gets the same seven bytes, and success builds none. */
const UNRECOGNIZED_NAME = alertRecord(ALERT_UNRECOGNIZED_NAME);

const EMPTY = Buffer.alloc(0);

function unknownName(name: string): Decision {
  return { reason: `no certificate for ${JSON.stringify(name)}`, reply: UNRECOGNIZED_NAME };
}

const ignore = (): void => {};

/**
 * One set of session ticket keys for every listener of the process, given to the TLS server and to
 * every context a handshake is made with here (#handshakeWith): a ticket issued on either path
 * resumes on the other, and after a certificate's context was evicted and rebuilt. A context is
 * shared by the listeners (and kept across reloads), and OpenSSL keeps ticket keys per context:
 * with a set per listener, the last listener to key a context would void the tickets the others
 * issued. Nothing rotates them.
 */
const TICKET_KEYS = randomBytes(48);
const KEYED = new WeakSet<SecureContext>();

const PLAIN_HTTP_REPLY = Buffer.from('HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n');

export type RequestHandler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface CertificateSource {
  /** The context for an SNI name, or undefined when the name is not ours (the handshake then fails). */
  secureContextFor(servername: string): Promise<SecureContext | undefined>;
  /** For clients that send no SNI (IP literals): a context already loaded for the local address. */
  loadedContextFor(name: string): SecureContext | undefined;
}

export interface TlsFrontOptions {
  readonly certificates: CertificateSource;
  readonly challenges: ChallengeContextSource;
  readonly onRequest: RequestHandler;
  readonly onUpgrade: UpgradeHandler;
  readonly log: Logger;
  /** Absent: the defaults (util/timeouts.ts). */
  readonly limits?: ConnectionLimits;
}

/**
 * TLS 1.3: the three AEAD suites, AES-128-GCM first as Mozilla's guidelines and Go (on CPUs with
 * AES instructions) order them; Node's default puts AES-256-GCM first, which costs bulk throughput
 * for no security a 128-bit key lacks. With honorCipherOrder the server's order decides.
 */
const TLS13_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'].join(':');

/**
 * Mozilla's "intermediate" TLS 1.2 suites (all AEAD, forward secret).
 */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');


/**
 * The TLS policy, also for every certificate's own context: a connection that gets its context
 * directly (no SNI, no ALPN: see #accept) has the protocol floor and suites of that context only.
 */
export const TLS_CONTEXT_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: `${TLS13_CIPHERS}:${TLS12_CIPHERS}`,
  honorCipherOrder: true,
} as const satisfies tls.SecureContextOptions;

/**
 * The HTTPS listener: one TLS server that negotiates h2 or http/1.1 by ALPN, answers acme-tls/1
 * challenges, and takes each certificate from the CertificateSource by SNI. Decrypted connections
 * are handed to an HTTP/1.1 or an HTTP/2 server by the protocol negotiated; both call the same
 * handlers.
 *
 * Each connection's ClientHello is read first (see hello-gate.ts): a name that is not ours, or no
 * SNI where no certificate is loaded for the address connected to, gets a fatal unrecognized_name
 * alert from here (RFC 6066 §3), which Node's SNICallback cannot send; plain HTTP sent to this port
 * gets a 400 saying so. Everything else reaches the TLS server byte for byte.
 */
export class TlsFront {
  readonly #tls: tls.Server;
  readonly #h1: http.Server;
  readonly #h2: http2.Http2Server;
  #keepaliveIntervalMs: number | undefined;
  readonly #sockets = new Set<TLSSocket>();
  readonly #sessions = new Set<Http2Session>();
  readonly #log: Logger;
  readonly #acceptors: Acceptors;
  readonly #certificates: CertificateSource;
  /** Connections whose ClientHello is being read or decided on; not yet the TLS server's. */
  readonly #gated = new Set<net.Socket>();
  /** Connections in a handshake made here (#handshakeWith), not by the TLS server. */
  readonly #handshaking = new Set<TLSSocket>();
  #closed = false;
  /** `servers { protocols; timeouts { write } }`, changed in place by configure(). */
  readonly #alpn: string[] = ['h2', 'http/1.1'];
  readonly #deadline = new WriteDeadline();

  constructor(o: TlsFrontOptions) {
    this.#log = o.log;
    this.#certificates = o.certificates;
    const acme = createAcmeTlsServerOptions({
      solver: o.challenges,
      getSecureContext: (name) => o.certificates.secureContextFor(name),
      alpnProtocols: this.#alpn,
      onRefused: (servername, reason) => this.#log.debug({ servername, reason: reason.message }, 'TLS handshake refused'),
    });
    const certificates = o.certificates;
    // Only acme-tls/1 hellos (and hellos the gate could not parse) reach the TLS server with an
    // SNI name: a name the gate found a context for gets its handshake made with it (#accept).
    this.#tls = tls.createServer({
      ...TLS_CONTEXT_OPTIONS,
      handshakeTimeout: TIMEOUTS.handshakeMs,
      SNICallback: acme.SNICallback,
      ALPNCallback: function (this: TLSSocket, arg) {
        // Without SNI, SNICallback never runs: serve a certificate already loaded for the address
        // the client connected to (how IP-literal sites work), or none.
        if (!arg.servername && this.localAddress) {
          const ctx = certificates.loadedContextFor(unmapIPv4(this.localAddress));
          if (ctx && !isFreed(ctx)) this.setKeyCert(ctx);
        }
        return acme.ALPNCallback.call(this, arg);
      },
    });
    this.#tls.setTicketKeys(TICKET_KEYS);
    this.#acceptors = new Acceptors(this.#tls, o.log, (socket) => this.#accept(socket));
    this.#tls.on('error', (err) => this.#log.error({ err }, 'TLS listener error'));
    const limits = o.limits ?? connectionLimits(undefined);
    this.#h1 = http.createServer({ shouldUpgradeCallback: acceptsUpgrade, ...serverCreateOptions(limits) });
    // Connections come from the TLS server, not from a listen() of its own: see Acceptors.
    this.#h1.emit('listening');
    const onRequest = this.#deadline.wrap(o.onRequest);
    this.#h1.on('request', onRequest);
    this.#h1.on('upgrade', o.onUpgrade);
    this.#h1.on('clientError', answerClientError);
    this.#h2 = http2.createServer({ settings: { maxConcurrentStreams: 250 } });
    this.configure(limits);
    this.#h2.on('request', onRequest);
    this.#h2.on('session', (s: Http2Session) => {
      this.#sessions.add(s);
      s.once('close', () => this.#sessions.delete(s));
    });
    this.#tls.on('secureConnection', (socket: TLSSocket) => this.#secured(socket));
    this.#tls.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      publish('my-server:tls:handshake', { result: 'error', ...(socket.servername ? { servername: socket.servername } : {}) });
      this.#log.debug({ err: err.message, remote: socket.remoteAddress, servername: socket.servername }, 'TLS handshake failed');
    });
  }

  /** A completed handshake: count it and hand the socket to the server of its protocol. */
  #secured(socket: TLSSocket): void {
    // Built only when someone listens: getProtocol() is a call into OpenSSL.
    if (hasSubscribers('my-server:tls:handshake')) {
      const protocol = socket.getProtocol() ?? 'unknown';
      publish('my-server:tls:handshake', socket.servername ? { result: 'ok', servername: socket.servername, protocol } : { result: 'ok', protocol });
    }
    if (socket.alpnProtocol === ACME_TLS_ALPN_PROTOCOL) {
      // RFC 8737 §3: the validator only looks at the certificate; nothing is spoken after it.
      socket.end();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    if (socket.alpnProtocol === 'h2') this.#h2.emit('connection', socket);
    else if (this.#alpn.includes('http/1.1')) this.#h1.emit('connection', socket);
    else socket.destroy(); // `protocols` without h1: closed, as Caddy closes it
  }

  /**
   * A handshake made here with the context the gate chose, then handed on where every other
   * connection goes:
   * - a hello with an SNI name the gate found a context for: made with that context from the
   *   start, so OpenSSL never stops for the certificate callback (Node's SNICallback round trip
   *   through JavaScript, about 10 µs of a full handshake), and ALPN is chosen by OpenSSL from
   *   the `protocols` list (server order, as the ALPN callback chooses);
   * - a hello with neither SNI nor ALPN, which runs none of the TLS server's callbacks, so the
   *   server could only offer its (absent) default certificate (Java's HttpURLConnection to
   *   https://10.0.0.5/, openssl s_client): the context loaded for the address connected to.
   * A resumed handshake skips the certificate either way; tickets open on both paths (TICKET_KEYS).
   */
  #handshakeWith(socket: net.Socket, ctx: SecureContext): void {
    if (!KEYED.has(ctx)) {
      (ctx.context as { setTicketKeys(keys: Buffer): void }).setTicketKeys(TICKET_KEYS);
      KEYED.add(ctx);
    }
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: ctx, server: this.#tls, ALPNProtocols: this.#alpn });
    this.#handshaking.add(secure);
    const timer = setTimeout(() => secure.destroy(new Error('TLS handshake timeout')), TIMEOUTS.handshakeMs);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      this.#handshaking.delete(secure);
    };
    // Before the handshake ends, a TLSSocket reports TLS errors as '_tlsError' and 'error'.
    const onError = (err: Error): void => {
      done();
      publish('my-server:tls:handshake', { result: 'error' });
      this.#log.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
      secure.destroy();
    };
    secure.once('error', onError);
    secure.once('close', done);
    secure.once('secure', () => {
      done();
      secure.off('error', onError);
      if (this.#closed) {
        secure.destroy();
        return;
      }
      // What tls.Server does before 'secureConnection': from here on TLS errors are 'error'
      // events for the HTTP server's handlers, not swallowed '_tlsError's. Node keeps this step
      // private; without it an error after the handshake would leave the socket open.
      (secure as unknown as { _releaseControl?: () => boolean })._releaseControl?.();
      // Also tls.Server's step: an HTTP/2 session set up on a socket still `secureConnecting`
      // waits for a 'secureConnect' that a server socket never emits.
      (secure as unknown as { secureConnecting: boolean }).secureConnecting = false;
      this.#secured(secure);
    });
  }

  /** The listener's `servers` timeouts and keep-alive probes (util/timeouts.ts); a reload calls it again. */
  configure(limits: ConnectionLimits): void {
    applyLimits(this.#h1, limits);
    this.#h2.setTimeout(limits.idleMs);
    this.#keepaliveIntervalMs = limits.keepaliveIntervalMs;
    this.#alpn.splice(0, this.#alpn.length, ...alpnFor(limits.protocols));
    this.#deadline.ms = limits.writeMs;
  }

  #accept(socket: net.Socket): void {
    if (this.#keepaliveIntervalMs !== undefined) socket.setKeepAlive(true, this.#keepaliveIntervalMs);
    // The raw socket is ours until the TLS server takes it, and stays listened to after: an error
    // while a lookup runs must not become an uncaught 'error' event.
    socket.on('error', ignore);
    this.#gated.add(socket);
    let hello: HelloResult | undefined;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      this.#gated.delete(socket);
      return true;
    };
    // One budget, and one timer, for reading the hello and deciding on it, as the TLS server has
    // for a handshake: a silent peer is dropped, a name still being looked up (an on-demand
    // issuance) is refused with unrecognized_name.
    const timer = setTimeout(() => {
      if (!settle()) return;
      if (hello?.kind === 'hello' && hello.serverName !== undefined) this.#refuse(socket, hello, `no certificate for ${JSON.stringify(hello.serverName)} within the handshake timeout`, UNRECOGNIZED_NAME);
      else socket.destroy();
    }, TIMEOUTS.handshakeMs);
    timer.unref();
    const act = (decision: Decision): void => {
      try {
        actOn(decision);
      } catch (err) {
        this.#log.error({ err }, 'handing a connection to the TLS server failed');
        socket.destroy();
      }
    };
    const actOn = (decision: Decision): void => {
      if (!settle()) return;
      if (this.#closed || socket.destroyed) {
        socket.destroy();
        return;
      }
      if (decision === undefined) {
        this.#tls.emit('connection', socket);
      } else if ('direct' in decision) {
        if (isFreed(decision.direct)) {
          // A context freed before its handshake took it (context-cache's retirement): Node would
          // abort the process on it. A bug if it happens; the client may retry.
          this.#log.error({ remote: socket.remoteAddress }, 'TLS handshake refused: its certificate context was freed before the handshake began');
          socket.destroy();
          return;
        }
        this.#handshakeWith(socket, decision.direct);
      } else {
        this.#refuse(socket, hello!, decision.reason, decision.reply);
      }
    };
    readClientHello(socket, (result) => {
      if (result === undefined) {
        settle();
        return;
      }
      hello = result;
      const decision = this.#decide(socket, result);
      if (decision !== undefined && 'lookup' in decision) {
        // One promise between the lookup and the handover: the lookup's own (a failed lookup
        // refuses the name, as a name that is not ours).
        const name = decision.lookup;
        this.#lookup(name).then(
          (context) => act(context !== undefined ? { direct: context } : unknownName(name)),
          () => act(unknownName(name)),
        );
      } else {
        // After the 'data' event this runs in has finished with the socket (as the lookup's
        // promise does): the TLS socket wrapping it must not start inside the raw socket's read.
        queueMicrotask(() => act(decision));
      }
    });
  }

  /** The certificate source's answer, a throw included as a rejection: this runs inside a 'data' event. */
  #lookup(name: string): Promise<SecureContext | undefined> {
    try {
      return this.#certificates.secureContextFor(name);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #refuse(socket: net.Socket, hello: HelloResult, reason: string, reply: Buffer): void {
    publish('my-server:tls:handshake', { result: 'error', ...(hello.kind === 'hello' && hello.serverName ? { servername: hello.serverName } : {}) });
    this.#log.debug({ remote: socket.remoteAddress, reason }, 'TLS handshake refused');
    socket.end(reply);
    // A peer that never closes its side must not hold the socket.
    setTimeout(() => socket.destroy(), 2_000).unref();
  }

  /**
   * What to do with a connection whose ClientHello was read: let it through to the TLS server
   * (undefined: acme-tls/1 and malformed hellos, which the TLS server's callbacks and OpenSSL
   * answer), make its TLS socket here with a context (no SNI and no ALPN; or, after the Lookup,
   * the context found for its SNI name), or refuse it with the bytes to answer.
   * Synchronous: a hello with an SNI name comes back as a Lookup, the one step that may wait
   * (storage, issuance), which #accept runs and hands over in one promise.
   */
  #decide(socket: net.Socket, hello: HelloResult): Decision | Lookup {
    if (hello.kind === 'not-tls') {
      // What Go's and so Caddy's servers answer to plain HTTP on a TLS port.
      if (hello.http) return { reason: 'plain HTTP on the HTTPS port', reply: PLAIN_HTTP_REPLY };
      return { reason: 'not a TLS connection', reply: EMPTY };
    }
    if (hello.kind !== 'hello') return undefined; // a malformed hello: OpenSSL answers it with its own alert
    if (hello.alpn?.includes(ACME_TLS_ALPN_PROTOCOL)) return undefined;
    if (hello.serverName !== undefined) return { lookup: hello.serverName };
    const local = socket.localAddress !== undefined ? unmapIPv4(socket.localAddress) : undefined;
    const context = local !== undefined ? this.#certificates.loadedContextFor(local) : undefined;
    // With ALPN the ALPN callback sets the context (setKeyCert); without, nothing in the server would.
    if (context !== undefined) return hello.alpn === undefined ? { direct: context } : undefined;
    return { reason: `no SNI and no certificate for ${local ?? 'the local address'}`, reply: UNRECOGNIZED_NAME };
  }

  listen(port: number, hosts: readonly (string | undefined)[]): Promise<void> {
    return this.#acceptors.listen(port, hosts);
  }

  /**
   * Stop accepting; let requests in flight finish: HTTP/2 sessions get GOAWAY, idle HTTP/1.1
   * connections close, busy ones close after their response. After `graceMs` whatever is left is
   * destroyed.
   */
  async close(graceMs: number): Promise<void> {
    this.#closed = true;
    this.#acceptors.close();
    for (const socket of this.#gated) socket.destroy();
    for (const socket of this.#handshaking) socket.destroy();
    for (const s of this.#sessions) s.close();
    // Every connection (HTTP/1.1, HTTP/2, upgraded WebSocket) is a TLS socket in #sockets.
    await drainSockets(this.#sockets, this.#h1, graceMs);
  }
}
