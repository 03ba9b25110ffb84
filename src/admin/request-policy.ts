import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { hostnameOf, isLoopbackHostname, type AdminListen } from './admin-address.ts';

/**
 * Which requests the admin API answers: the defence Caddy's admin endpoint has against DNS
 * rebinding and cross-site requests from a browser on the same machine.
 *
 * - Host must name loopback (localhost, 127/8, ::1) or the configured host. A rebinding attack
 *   makes the browser send the attacker's domain as Host, so it is refused even though the
 *   connection arrives on 127.0.0.1. Over a Unix socket no browser can connect, so Host is free.
 * - Origin, when present, must be http:// with an allowed host and this listener's port, so a page
 *   served by another local port (a dev server, say) cannot POST /load either.
 * - Sec-Fetch-Site: cross-site is refused outright, for browsers that send it without Origin.
 *
 * With every interface bound (":2019"), only loopback names pass as Host: remote clients must
 * then send "Host: localhost", which no browser lets a page do.
 */
export class RequestPolicy {
  readonly #unix: boolean;
  readonly #configuredHost: string | undefined;
  #port: number | undefined;

  constructor(listen: AdminListen) {
    this.#unix = listen.kind === 'unix';
    const host = listen.kind === 'tcp' && listen.host !== '' ? listen.host : undefined;
    this.#configuredHost = host === undefined ? undefined : hostnameOf(isIP(host) === 6 ? `[${host}]` : host);
  }

  /** The port actually bound, known after listen(); Origin must carry it. */
  set port(port: number) {
    this.#port = port;
  }

  /** Why the request is refused (for the 403 body), or undefined when it may proceed. */
  refusal(headers: IncomingHttpHeaders): string | undefined {
    if (!this.#unix) {
      const host = headers.host === undefined ? undefined : hostnameOf(headers.host);
      if (host === undefined) return 'missing or invalid Host header';
      if (!this.#allowedHost(host)) return `host not allowed: ${headers.host ?? ''}`;
    }
    const origin = headers.origin;
    if (origin !== undefined && !this.#allowedOrigin(origin)) return `origin not allowed: ${origin}`;
    if (headers['sec-fetch-site'] === 'cross-site') return 'cross-site requests are not allowed';
    return undefined;
  }

  #allowedHost(hostname: string): boolean {
    return isLoopbackHostname(hostname) || hostname === this.#configuredHost;
  }

  #allowedOrigin(origin: string): boolean {
    const url = URL.parse(origin);
    if (url === null || url.protocol !== 'http:' || !this.#allowedHost(url.hostname)) return false;
    if (this.#unix) return true;
    return Number(url.port === '' ? 80 : url.port) === this.#port;
  }
}
