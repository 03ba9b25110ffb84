/**
 * Host names, authorities and peer addresses as strings: the one home of these rules, for the
 * request path, the proxy, the TLS listener and the certificate manager alike. Nothing here
 * resolves names or decides whether a name is valid (certs/names.ts does that).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP, isIPv4 } from 'node:net';

/** The authority a request names: ":authority" (HTTP/2) first, then Host; '' when neither. */
export function requestAuthority(headers: IncomingHttpHeaders): string {
  const authority = headers[':authority'];
  if (typeof authority === 'string' && authority !== '') return authority;
  return headers.host ?? '';
}

/**
 * The host of an authority, as sites and certificates are keyed: without the port, without the
 * brackets of an IPv6 literal, lower case, without a trailing dot. "Example.COM:8443" →
 * "example.com", "[::1]:443" → "::1". An unbracketed IPv6 address (more than one colon) is kept
 * whole, and an unclosed bracket is returned as written: neither can match a site.
 *
 * This is also the value of the `{host}` placeholder, in every directive, as Caddy's
 * `http.request.host` (Go's net.SplitHostPort) gives "::1" for "[::1]:443".
 */
export function hostWithoutPort(authority: string): string {
  let h = authority.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end > 0 ? h.slice(1, end) : h;
  } else {
    const colon = h.lastIndexOf(':');
    if (colon > 0 && h.indexOf(':') === colon) h = h.slice(0, colon);
  }
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** "host:port", with an IPv6 literal in brackets ("[::1]:8080"), as Go's net.JoinHostPort. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A peer address as an IP: IPv4 clients of a dual-stack socket are reported as "::ffff:1.2.3.4"
 * (RFC 4291 §2.5.5.2); logs, upstreams, ip_hash and certificate lookups by local address all
 * want "1.2.3.4". Anything else, real IPv6 included, is returned unchanged.
 */
export function unmapIPv4(address: string): string {
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:') {
    const v4 = address.slice(7);
    if (isIPv4(v4)) return v4;
  }
  return address;
}

/**
 * The wildcard name that covers `name`: its leftmost label replaced by `*` ("a.example.com" →
 * "*.example.com"; "example.com" → "*.com"). RFC 6125 §6.4.3: "*.example.com would match
 * foo.example.com but not bar.foo.example.com or example.com": a wildcard stands for exactly one
 * label, so a name has exactly one wildcard to look up. certmagic's handshake lookup and Caddy's
 * host matcher use the same rule (one label, any number of labels after it), which is why site
 * routing, on-demand policy and certificate lookups all call this one function.
 *
 * Undefined for a name with no dot, a leading dot, an IP literal (RFC 6125 §6.4.3 does not apply
 * to IP addresses: they match exactly) or a name that already holds a `*`.
 */
export function wildcardOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  if (dot <= 0 || dot === name.length - 1 || name.includes('*') || isIP(name) !== 0) return undefined;
  return `*${name.slice(dot)}`;
}
