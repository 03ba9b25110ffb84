import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/types.ts';
import type { Req } from '../routes/context.ts';
import { serverOptionsFor } from './client-ip.ts';
import { misdirected } from './request-target.ts';

/**
 * Whether an HTTPS request gets 421 Misdirected Request for naming another host than its
 * connection's SNI, by the listener's `servers { strict_sni_host }` (Caddy's enforcementHandler,
 * modules/caddyhttp/server.go):
 * - `on`: Caddy's check exactly: the Host (without port) must equal the ServerName, so a request
 *   on a connection that sent no SNI (an IP literal) gets 421 unless it has no Host either;
 * - `insecure_off`: never (domain fronting allowed, as Caddy allows it);
 * - absent: my-server's rule (request-target.ts misdirected): 421 when the SNI names another host,
 *   nothing to compare without SNI. Caddy's default is off unless a site uses TLS client auth;
 *   my-server keeps the check on, which is where Caddy lands with client auth, and what a client
 *   that coalesced HTTP/2 connections expects (RFC 9110 §15.5.20: it retries on a new connection).
 *
 * The common case, Host equal to the SNI, returns before the `servers` block is looked up.
 */
export function sniMismatch(req: Req, host: string, config: Config | undefined, port: number): boolean {
  const servername = (req.socket as TLSSocket | null)?.servername;
  if (servername && servername.toLowerCase() === host) return false;
  const mode = serverOptionsFor(config?.globals.servers, port)?.strictSniHost;
  if (mode === 'insecure_off') return false;
  if (mode === 'on' && !servername) return host !== '';
  return misdirected(req, host);
}
