import type { TLSSocket } from 'node:tls';
import { normalizeName } from '../certs/names.ts';
import { unmapIPv4 } from '../util/host.ts';
import { cleanPath, hostWithoutPort, requestHost, splitTarget, type Req, type RequestContext } from '../routes/context.ts';

/** What resolveTarget found: a refusal, or the request in origin-form with its authority as Host. */
export type Target =
  | { readonly ok: false; readonly reason: string }
  | {
      readonly ok: true;
      /** The request came in absolute-form: its authority must name one of our sites (else 421). */
      readonly absolute: boolean;
      /** An absolute-form target's scheme, when it names the other one than the connection's. */
      readonly otherScheme: boolean;
    };

/**
 * The bytes Go's net/http (and so Caddy) accepts in a Host value: RFC 3986's reg-name characters
 * (unreserved, sub-delims, pct-encoded), ':' for the port and brackets for IPv6 literals. Anything
 * else (spaces, '/', '@', control bytes) cannot be an authority.
 */
const HOST_VALUE = /^[A-Za-z0-9!$%&'()*+,\-.:;=[\]_~]*$/;

/** `scheme://authority` and the rest of an absolute-form target (RFC 9112 §3.2.2). */
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;

/**
 * The Host rules of RFC 9112 §3.2, applied before anything looks at the request's host:
 *
 * - "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request message
 *   that lacks a Host header field and to any request message that contains more than one Host
 *   header field line or a Host header field with an invalid field value." Node already refuses
 *   an HTTP/1.1 request without Host; a repeated or invalid one is refused here. In HTTP/2, a Host
 *   that names another authority than `:authority` is malformed too (RFC 9113 §8.3.1).
 * - §3.2.2: "When an origin server receives a request with an absolute-form of request-target, the
 *   origin server MUST ignore the received Host header field (if any) and instead use the host
 *   information of the request-target." The request is rewritten in place: `req.url` becomes the
 *   origin-form (path and query), which is all an upstream ever receives, and the Host header
 *   becomes the target's authority, so routing, the 421 check, HTTP-01 and the upstream all see
 *   the one authority. The caller then answers 421 when no site of ours has that authority.
 */
export function resolveTarget(req: Req, scheme: 'http' | 'https'): Target {
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) return { ok: false, reason: 'more than one Host header' };
  const host = req.headers.host;
  if (host !== undefined && !HOST_VALUE.test(host)) return { ok: false, reason: 'invalid Host header' };
  const authority = req.headers[':authority'];
  if (typeof authority === 'string') {
    // nghttp2 already resets a stream whose :authority is not a valid authority; checked again
    // because the rules here must not depend on which HTTP/2 implementation parsed the request.
    if (!HOST_VALUE.test(authority)) return { ok: false, reason: 'invalid :authority' };
    if (host !== undefined && host.toLowerCase() !== authority.toLowerCase()) return { ok: false, reason: 'Host header differs from :authority' };
  }
  const url = req.url ?? '/';
  if (url.startsWith('/') || url === '*') return { ok: true, absolute: false, otherScheme: false };
  const m = ABSOLUTE_FORM.exec(url);
  if (m === null) return { ok: false, reason: 'malformed request target' };
  const targetScheme = m[1]!.toLowerCase();
  const targetAuthority = m[2]!;
  if (targetScheme !== 'http' && targetScheme !== 'https') return { ok: false, reason: `unsupported scheme in request target: ${targetScheme}` };
  // RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error.
  if (targetAuthority === '' || targetAuthority.includes('@') || !HOST_VALUE.test(targetAuthority)) {
    return { ok: false, reason: 'invalid authority in request target' };
  }
  const rest = m[3]!;
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  req.headers.host = targetAuthority;
  return { ok: true, absolute: true, otherScheme: targetScheme !== scheme };
}

/** The context handlers get; undefined when the path does not decode (answered 400). */
export function requestContext(req: Req, scheme: 'http' | 'https'): RequestContext | undefined {
  const { path: rawPath, query } = splitTarget(req.url ?? '/');
  const path = cleanPath(rawPath);
  if (path === undefined) return undefined;
  return {
    scheme,
    remoteAddress: unmapIPv4(req.socket.remoteAddress ?? ''),
    host: hostWithoutPort(requestHost(req)),
    path,
    query,
  };
}

/**
 * RFC 9110 §15.5.20: a request on a TLS connection made for another name gets 421, so a client
 * that coalesced connections retries on a new one. Without SNI (IP literals) there is nothing to
 * compare.
 */
export function misdirected(req: Req, host: string): boolean {
  const servername = (req.socket as TLSSocket).servername;
  if (!servername || host === '') return false;
  // The usual case, per request (every HTTP/2 stream): the name the connection was made for.
  if (servername.toLowerCase() === host) return false;
  const sni = normalizeName(servername);
  return sni !== undefined && sni !== host;
}
