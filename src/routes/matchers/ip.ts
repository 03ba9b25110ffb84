/** Run-time remote_ip and client_ip (Caddy's MatchRemoteIP, MatchClientIP). */
import { isIP } from 'node:net';
import { parseCidr } from '../../config/cidr.ts';
import type { ClientIpRequestMatcher, RemoteIpRequestMatcher } from '../../config/types.ts';
import { IpRanges } from '../../util/ip-ranges.ts';
import type { Req } from '../context.ts';
import type { Match } from './index.ts';
import { headerValues } from '../../util/request-fields.ts';

export function remoteIp(m: RemoteIpRequestMatcher): Match {
  const contains = rangeTest(m.ranges);
  if (!m.forwarded) return (_req, ctx) => contains(ctx.remoteAddress);
  return (req, ctx) => contains(forwardedFor(req) ?? ctx.remoteAddress);
}

export function clientIp(m: ClientIpRequestMatcher): Match {
  const contains = rangeTest(m.ranges);
  return (_req, ctx) => contains(ctx.clientIp ?? ctx.remoteAddress);
}

/**
 * IpRanges.contains, with the IPv4 ranges also kept as (network, mask) integers: a dotted-quad
 * address (nearly every peer) is then judged by a few integer operations instead of a BlockList
 * check that parses the address again for every matcher. Anything else (IPv6, IPv4-mapped IPv6,
 * or an IPv4 address no IPv4 range holds while the set has IPv6 ranges) asks the BlockList, so
 * the answers are the BlockList's.
 */
export function rangeTest(cidrs: readonly string[]): (ip: string) => boolean {
  const ranges = new IpRanges(cidrs);
  const v4: { net: number; mask: number }[] = [];
  let v6 = false;
  for (const text of cidrs) {
    const c = parseCidr(text);
    if (typeof c === 'string') continue;
    if (c.family === 'ipv6') {
      v6 = true;
      continue;
    }
    const mask = c.prefix === 0 ? 0 : (~0 << (32 - c.prefix)) >>> 0;
    v4.push({ net: ((ipv4Int(c.address) as number) & mask) >>> 0, mask });
  }
  return (ip) => {
    const n = ipv4Int(ip);
    if (n === undefined) return ranges.contains(ip);
    for (const r of v4) if (((n & r.mask) >>> 0) === r.net) return true;
    return v6 ? ranges.contains(ip) : false;
  };
}

let lastText = '';
let lastInt: number | undefined;

/** A dotted quad as Node's isIPv4 takes it (no leading zeros), as an unsigned integer; else undefined. */
export function ipv4Int(text: string): number | undefined {
  if (text === lastText) return lastInt;
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let ok = text.length >= 7 && text.length <= 15;
  for (let i = 0; ok && i <= text.length; i++) {
    const c = i === text.length ? 46 : text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) ok = false;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      if (i < text.length) dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) ok = false;
      part = part * 10 + (c - 48);
      digits++;
    } else ok = false;
  }
  lastText = text;
  lastInt = ok && dots === 3 ? n : undefined;
  return lastInt;
}

/** Caddy 2.6's `remote_ip forwarded`: the first X-Forwarded-For entry, port and brackets dropped. */
function forwardedFor(req: Req): string | undefined {
  const first = headerValues(req, 'x-forwarded-for')[0]?.split(',')[0]?.trim();
  if (first === undefined || first === '') return undefined;
  const hostPort = /^\[([^\]]+)\](?::\d+)?$/.exec(first) ?? /^([^:]+):\d+$/.exec(first);
  const host = hostPort ? (hostPort[1] as string) : first;
  return isIP(host) === 0 ? '' : host;
}
