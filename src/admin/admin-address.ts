import { isIP } from 'node:net';
import { MyServerError } from '../errors.ts';

/** Where the admin API listens, parsed from the `admin` option. */
export type AdminListen =
  | {
      readonly kind: 'tcp';
      /** The host as configured, lowercased, without brackets; '' for every interface. */
      readonly host: string;
      /** What to bind: 'localhost' becomes 127.0.0.1; undefined for every interface. */
      readonly bindHost: string | undefined;
      readonly port: number;
    }
  | { readonly kind: 'unix'; readonly path: string };

/**
 * Parses `host:port`, `[ipv6]:port`, `:port` (every interface) or `unix//path` (Caddy's form: the
 * path follows "unix/", so "unix//run/admin.sock" is /run/admin.sock). Port 0 is accepted so tests
 * can ask for an ephemeral port; the config layer rejects it in a Proxyfile.
 *
 * 'localhost' binds 127.0.0.1 only: resolving it could also yield ::1, or whatever /etc/hosts
 * says, and a loopback-only API must not depend on that file.
 */
export function parseAdminAddress(address: string): AdminListen {
  if (address.startsWith('unix/')) {
    const path = address.slice('unix/'.length);
    if (path === '') throw invalid(address);
    return { kind: 'unix', path };
  }
  const m = /^(\[[^\]]+\]|[^:[\]]*):(\d{1,5})$/.exec(address);
  const port = Number(m?.[2]);
  if (m === null || !(port >= 0 && port <= 65535)) throw invalid(address);
  const raw = m[1] ?? '';
  const host = (raw.startsWith('[') ? raw.slice(1, -1) : raw).toLowerCase();
  if (raw.startsWith('[') && isIP(host) !== 6) throw invalid(address);
  const bindHost = host === '' ? undefined : host === 'localhost' ? '127.0.0.1' : host;
  return { kind: 'tcp', host, bindHost, port };
}

/** Whether `hostname` (a URL hostname: lowercased, IPv6 in brackets) names this machine's loopback. */
export function isLoopbackHostname(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === 'localhost.') return true;
  if (isIP(hostname) === 4) return hostname.startsWith('127.');
  if (hostname.startsWith('[') && hostname.endsWith(']')) {
    const v6 = hostname.slice(1, -1);
    // The URL parser compresses IPv6, so ::1 and its IPv4-mapped 127/8 forms have one spelling each.
    return v6 === '::1' || v6.startsWith('::ffff:7f');
  }
  return false;
}

/**
 * The hostname of an HTTP Host header or of a configured host, normalised by the WHATWG URL
 * parser (lowercase, IPv4 in dotted form, IPv6 compressed and bracketed); undefined when the
 * value is not a bare host[:port].
 */
export function hostnameOf(hostPort: string): string | undefined {
  if (hostPort === '' || /[/?#@\\\s]/.test(hostPort)) return undefined;
  const url = URL.parse(`http://${hostPort}`);
  return url === null || url.hostname === '' ? undefined : url.hostname;
}

function invalid(address: string): MyServerError {
  return new MyServerError('MS_ERR_CONFIG', `admin: invalid address "${address}" (use HOST:PORT, :PORT or unix//PATH)`);
}
