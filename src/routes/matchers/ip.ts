/** Run-time remote_ip and client_ip (Caddy's MatchRemoteIP, MatchClientIP). */
import { isIP } from 'node:net';
import type { ClientIpRequestMatcher, RemoteIpRequestMatcher } from '../../config/types.ts';
import { IpRanges } from '../../util/ip-ranges.ts';
import type { Req } from '../context.ts';
import type { Match } from './index.ts';
import { headerValues } from './placeholders.ts';

export function remoteIp(m: RemoteIpRequestMatcher): Match {
  const ranges = new IpRanges(m.ranges);
  if (!m.forwarded) return (_req, ctx) => ranges.contains(ctx.remoteAddress);
  return (req, ctx) => ranges.contains(forwardedFor(req) ?? ctx.remoteAddress);
}

export function clientIp(m: ClientIpRequestMatcher): Match {
  const ranges = new IpRanges(m.ranges);
  return (_req, ctx) => ranges.contains(ctx.clientIp ?? ctx.remoteAddress);
}

/** Caddy 2.6's `remote_ip forwarded`: the first X-Forwarded-For entry, port and brackets dropped. */
function forwardedFor(req: Req): string | undefined {
  const first = headerValues(req, 'x-forwarded-for')[0]?.split(',')[0]?.trim();
  if (first === undefined || first === '') return undefined;
  const hostPort = /^\[([^\]]+)\](?::\d+)?$/.exec(first) ?? /^([^:]+):\d+$/.exec(first);
  const host = hostPort ? (hostPort[1] as string) : first;
  return isIP(host) === 0 ? '' : host;
}
