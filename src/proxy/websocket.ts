import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyServer, ServerOptions } from 'http-proxy-3';
import type { TransportConfig, UpstreamConfig } from '../config/types.ts';

let httpProxyModule: Promise<{ readonly ProxyServer: typeof ProxyServer }> | undefined;

/** How a WebSocket forwarding attempt ended, for the caller's bookkeeping. */
export interface WebSocketOutcome {
  /** Set when the upstream could not be reached or failed before the 101; undefined otherwise. */
  readonly error?: Error;
  /** True once the upstream switched protocols (errors after that are plain disconnects). */
  readonly upgraded: boolean;
}

/**
 * WebSocket upgrades through http-proxy-3, which does this part well: it sends the handshake,
 * relays the 101 (or a refusal) and pipes both sockets. We decide the headers: the ones passed in
 * are the complete set, so its `proxyReqWs` hook removes whatever it copied from the client beyond
 * them (hop-by-hop fields, spoofed X-Forwarded-*). No agent: an upgraded socket never returns to a pool.
 */
export class WebSocketForwarder {
  #proxy: ProxyServer | undefined;
  readonly #transport: TransportConfig;

  constructor(transport: TransportConfig) {
    this.#transport = transport;
  }

  /**
   * http-proxy-3 (~12 MiB resident) is loaded at the first upgrade a proxy forwards, not by every
   * reverse_proxy: most sites never see a WebSocket.
   */
  #setUp(ProxyServerClass: typeof ProxyServer): ProxyServer {
    if (this.#proxy !== undefined) return this.#proxy;
    this.#proxy = new ProxyServerClass({ ws: true, xfwd: false, prependPath: false });
    this.#proxy.on('proxyReqWs', (proxyReq, _req, _socket, options) => {
      const wanted = options.headers ?? {};
      for (const name of proxyReq.getHeaderNames()) {
        if (!(name in wanted)) proxyReq.removeHeader(name);
      }
    });
    // Without a listener of our own, http-proxy-3 rethrows socket errors; outcomes are reported
    // through the per-call callback instead.
    this.#proxy.on('error', () => {});
    return this.#proxy;
  }

  /**
   * Forward one upgrade request. `done` is called once: with an error when the upstream fails
   * before switching protocols (the client then gets a short 502/504 response), otherwise when
   * the client socket closes.
   */
  forward(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    upstream: UpstreamConfig,
    tls: boolean,
    headers: http.OutgoingHttpHeaders,
    done: (outcome: WebSocketOutcome) => void,
  ): void {
    if (this.#proxy === undefined) {
      // The client's socket is paused (no 'data' listener) until http-proxy-3 pipes it.
      (httpProxyModule ??= import('http-proxy-3')).then(
        (m) => {
          this.#setUp(m.ProxyServer);
          if (socket.destroyed) done({ upgraded: false });
          else this.forward(req, socket, head, upstream, tls, headers, done);
        },
        (err: unknown) => done({ error: err instanceof Error ? err : new Error(String(err)), upgraded: false }),
      );
      return;
    }
    const proxy = this.#proxy;
    let upgraded = false;
    let settled = false;
    const finish = (outcome: WebSocketOutcome): void => {
      if (settled) return;
      settled = true;
      done(outcome);
    };
    const options: ServerOptions = {
      target: targetUrl(upstream, tls),
      headers: headers as Record<string, string | string[] | undefined>,
      connectTimeout: this.#transport.dialTimeoutMs,
      secure: !this.#transport.tlsInsecureSkipVerify,
      ...(tls && this.#transport.tlsServerName !== undefined ? { ssl: { servername: this.#transport.tlsServerName } } : {}),
    };
    // http-proxy-3 emits proxyReqWs synchronously inside ws(), so this listener sees only our request.
    const onProxyReq = (proxyReq: http.ClientRequest): void => {
      proxyReq.once('upgrade', (_res: http.IncomingMessage, proxySocket: Duplex) => {
        upgraded = true;
        // http-proxy-3 only ends the upstream side when the client's closes; an upstream that
        // ignores that FIN would hold the process open past a shutdown's grace period.
        socket.once('close', () => (proxySocket as Socket).destroySoon());
      });
    };
    socket.once('close', () => finish({ upgraded }));
    proxy.on('proxyReqWs', onProxyReq);
    try {
      proxy.ws(req, socket, head, options, (err) => {
        if (!upgraded) finish({ error: err, upgraded });
      });
    } finally {
      proxy.off('proxyReqWs', onProxyReq);
    }
  }
}

/**
 * http-proxy-3 takes its target as a URL. A unix socket has no URL form, so the socket path rides
 * on the URL object: setupOutgoing copies `socketPath` from the target onto the request options.
 */
function targetUrl(upstream: UpstreamConfig, tls: boolean): URL {
  const scheme = tls ? 'https' : 'http';
  if (upstream.scheme === 'unix') {
    return Object.assign(new URL(`${scheme}://localhost`), { socketPath: upstream.path ?? '' });
  }
  const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
  return new URL(`${scheme}://${host}:${upstream.port}`);
}
