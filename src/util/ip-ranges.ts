/**
 * IP ranges for `trusted_proxies`, and the client-IP rule of Caddy's HTTP server
 * (modules/caddyhttp/server.go: determineTrustedProxy, trustedRealClientIP, strictUntrustedClientIp).
 */
import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { parseCidr } from '../config/cidr.ts';
import { unmapIPv4 } from './host.ts';

/**
 * A set of ranges, compiled once per config. IPv4-mapped IPv6 peers ("::ffff:10.0.0.1", what a
 * dual-stack socket reports) are judged as the IPv4 address they carry, as Go's Unmap does.
 */
export class IpRanges {
  readonly #list = new BlockList();

  /** `cidrs` must already be valid (the config parser checks them with parseCidr). */
  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (typeof c === 'string') throw new Error(`invalid range "${text}": ${c}`);
      this.#list.addSubnet(c.address, c.prefix, c.family);
    }
  }

  contains(ip: string): boolean {
    const bare = unmapIPv4(ip);
    const version = isIP(bare);
    if (version === 0) return false;
    return this.#list.check(bare, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/** What a listener's `servers` block says about client addresses. */
export interface ClientIpPolicy {
  readonly trusted: IpRanges;
  /** Header names, in order; Caddy's default is X-Forwarded-For alone. */
  readonly headers: readonly string[];
  readonly strict: boolean;
}

/**
 * The peer's trust and the client's IP, by Caddy's rule: a peer outside `trusted_proxies` is the
 * client. A trusted one's client_ip_headers are read in order, their values joined and split on
 * commas; non-strict takes the first (left-most) valid address, strict walks from the right and
 * takes the first address that is not itself a trusted proxy. No valid address: the peer.
 * Ports and IPv6 zones in the values are dropped, as Caddy does.
 */
export function clientIp(peer: string, headers: IncomingHttpHeaders, policy: ClientIpPolicy | undefined): { trustedPeer: boolean; clientIp: string } {
  const peerIp = unmapIPv4(peer);
  if (policy === undefined || !policy.trusted.contains(peerIp)) return { trustedPeer: false, clientIp: peerIp };
  if (policy.strict) {
    for (const name of policy.headers) {
      const parts = headerList(headers[name.toLowerCase()]);
      for (let i = parts.length - 1; i >= 0; i--) {
        const ip = addressIn(parts[i] as string);
        if (ip !== undefined && !policy.trusted.contains(ip)) return { trustedPeer: true, clientIp: ip };
      }
    }
    return { trustedPeer: true, clientIp: peerIp };
  }
  const all = policy.headers.flatMap((name) => headerList(headers[name.toLowerCase()]));
  for (const part of all) {
    const ip = addressIn(part);
    if (ip !== undefined) return { trustedPeer: true, clientIp: ip };
  }
  return { trustedPeer: true, clientIp: peerIp };
}

function headerList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value).split(',');
}

/** `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `fe80::1%eth0` → the bare address; undefined if none (`[::1]` too, as in Go). */
function addressIn(part: string): string | undefined {
  let host = part.trim();
  const hostPort = /^\[([^\]]+)\]:\d+$/.exec(host) ?? /^([^:]+):\d+$/.exec(host);
  if (hostPort) host = hostPort[1] as string;
  host = host.split('%')[0] as string;
  return isIP(host) === 0 ? undefined : unmapIPv4(host);
}
