/**
 * reverse_proxy upstream addresses, as the Caddyfile reads them:
 *
 *     host:port            plain HTTP; port 80 when omitted; `host:8001-8003` expands to 3 upstreams
 *     :port                this machine (`localhost`), as Go dials an empty host
 *     http://host[:port]   the same, port 80 by default
 *     https://host[:port]  HTTPS to the upstream, port 443 by default
 *     h2c://host[:port]    HTTP/2 without TLS (prior knowledge), port 80 by default; the
 *                          directive then sets `transport http { versions h2c 2 }`, as Caddy does
 *     unix//path/to.sock   a unix socket (`unix/relative.sock` for a relative path)
 *
 * IPv6 hosts are bracketed (`[::1]:8080`). Paths, queries and placeholders are not allowed.
 */
import { isIPv6 } from 'node:net';
import { configError, posOf } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { UpstreamConfig } from '../types.ts';

/** Port ranges expand into one upstream per port; bound the expansion. */
const MAX_RANGE = 1024;

export interface ParsedUpstreams {
  readonly upstreams: UpstreamConfig[];
  /** The scheme was written as http:// (as opposed to omitted). */
  readonly explicitHttp: boolean;
  /** Written as h2c:// (the upstreams' scheme is then http). */
  readonly h2c: boolean;
}

/**
 * The host Go dials for an empty one (`:8080`, `http://:8080`): the local system. We name it
 * `localhost` so it resolves as the machine's own resolver says, IPv4 or IPv6.
 */
const EMPTY_HOST = 'localhost';

export function parseUpstream(tok: Token): ParsedUpstreams {
  const text = tok.text;
  const fail = (why: string): never => {
    throw configError(tok, `invalid upstream "${text}": ${why}`);
  };
  if (/[{}]/.test(text)) fail('placeholders are not supported in upstream addresses');
  const pos = posOf(tok);
  if (text.startsWith('unix/')) {
    const socket = text.slice('unix/'.length);
    if (socket === '') fail('missing socket path after unix/');
    return { upstreams: [{ scheme: 'unix', host: '', port: 0, path: socket, pos }], explicitHttp: false, h2c: false };
  }
  let scheme: 'http' | 'https' = 'http';
  let rest = text;
  let explicitHttp = false;
  let h2c = false;
  const sep = text.indexOf('://');
  if (sep >= 0) {
    const s = text.slice(0, sep).toLowerCase();
    if (s === 'ws' || s === 'wss') fail(`use ${s === 'ws' ? 'http' : 'https'}:// (WebSocket upgrades are proxied over HTTP)`);
    if (s !== 'http' && s !== 'https' && s !== 'h2c') fail(`unsupported scheme "${text.slice(0, sep)}://" (use http://, https:// or h2c://)`);
    h2c = s === 'h2c';
    scheme = s === 'https' ? 'https' : 'http';
    explicitHttp = s === 'http';
    rest = text.slice(sep + 3);
    if (/[/?#]/.test(rest)) fail('upstream URLs may only have a scheme, host and port');
  } else if (/^[a-z0-9+]+\//i.test(text)) {
    fail('only the unix/ network prefix is supported');
  } else if (rest.includes('/')) {
    fail('upstream addresses may not have a path');
  }

  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) fail("missing ']' after an IPv6 address");
    host = rest.slice(1, close);
    if (!isIPv6(host)) fail(`"${host}" is not an IPv6 address`);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) fail(`unexpected "${after}" after ']'`);
    if (after !== '') portText = after.slice(1);
  } else {
    if (rest.split(':').length > 2) fail('IPv6 addresses must be written in brackets, as in [::1]:8080');
    const colon = rest.indexOf(':');
    host = colon < 0 ? rest : rest.slice(0, colon);
    if (colon >= 0) portText = rest.slice(colon + 1);
  }
  if (host === '') {
    if (portText === undefined) fail('missing host');
    host = EMPTY_HOST;
  }
  if (!host.includes(':') && !/^[A-Za-z0-9._-]+$/.test(host)) fail(`"${host}" is not a valid host name`);
  host = host.toLowerCase();

  let from: number;
  let to: number;
  if (portText === undefined) {
    from = to = scheme === 'https' ? 443 : 80;
  } else {
    const range = /^(\d+)(?:-(\d+))?$/.exec(portText);
    if (range === null) fail(`port "${portText}" is not a number or a range such as 8001-8003`);
    from = Number(range?.[1]);
    to = range?.[2] === undefined ? from : Number(range[2]);
    if (from < 1 || from > 65535 || to < 1 || to > 65535) fail('ports must be 1-65535');
    if (to < from) fail(`port range ${portText} is reversed`);
    if (to - from >= MAX_RANGE) fail(`port range ${portText} has more than ${MAX_RANGE} ports`);
  }
  if (scheme === 'http' && explicitHttp && from === 443 && to === 443) fail('http:// with port 443 (the HTTPS port)');
  if (h2c && from === 443 && to === 443) fail('h2c:// with port 443 (the HTTPS port)');
  if (scheme === 'https' && from === 80 && to === 80) fail('https:// with port 80 (the HTTP port)');
  const upstreams: UpstreamConfig[] = [];
  for (let port = from; port <= to; port++) upstreams.push({ scheme, host, port, pos });
  return { upstreams, explicitHttp, h2c };
}
