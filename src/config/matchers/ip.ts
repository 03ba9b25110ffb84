/**
 * remote_ip and client_ip (Caddy's ip_matchers.go):
 *
 *     remote_ip [forwarded] RANGES…|private_ranges     the peer's address
 *     client_ip RANGES…|private_ranges                 {client_ip}, after trusted_proxies
 *
 * RANGES are addresses or CIDRs; lines of one type add ranges. `forwarded` is Caddy 2.6's option
 * (the first X-Forwarded-For address, which any client can set; Caddy 2.7 dropped it for
 * client_ip): accepted so 2.6 configs keep their meaning.
 */
import { PRIVATE_RANGES, parseCidr } from '../cidr.ts';
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { ClientIpRequestMatcher, RemoteIpRequestMatcher } from '../types.ts';
import { noBlock } from '../directives/helpers.ts';
import type { MatcherLines } from './index.ts';

function ranges(m: MatcherLines, type: string, allowForwarded: boolean): { ranges: string[]; forwarded: boolean } {
  const out: string[] = [];
  let forwarded = false;
  for (const line of m.lines) {
    noBlock(line);
    if (line.args.length === 0) throw configError(line.name, `${type}: missing argument (usage: ${type} ${allowForwarded ? '[forwarded] ' : ''}RANGES…|private_ranges)`);
    for (const tok of line.args) {
      if (tok.text === 'forwarded' && allowForwarded) {
        forwarded = true;
        continue;
      }
      if (tok.text === 'private_ranges') {
        out.push(...PRIVATE_RANGES);
        continue;
      }
      out.push(checkedRange(tok, type));
    }
  }
  if (out.length === 0) throw configError(m.lines[0]?.name as Token, `${type}: no address ranges given`);
  return { ranges: out, forwarded };
}

function checkedRange(tok: Token, type: string): string {
  if (tok.text.includes('%')) throw configError(tok, `${type}: IPv6 zones ("${tok.text}") are not supported`);
  const c = parseCidr(tok.text);
  if (typeof c === 'string') throw configError(tok, `${type}: invalid address or CIDR "${tok.text}": ${c}`);
  return tok.text;
}

export function remoteIp(m: MatcherLines): RemoteIpRequestMatcher {
  return { type: 'remote_ip', ...ranges(m, 'remote_ip', true) };
}

export function clientIp(m: MatcherLines): ClientIpRequestMatcher {
  return { type: 'client_ip', ranges: ranges(m, 'client_ip', false).ranges };
}
