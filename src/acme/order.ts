/**
 * RFC 8555 §7.4 and §7.5, the order and its authorizations and challenges: newOrder, the
 * POST-as-GET reads, responding to a challenge, deactivating an authorization and finalizing.
 * Each function sends through the AcmeSession it is given; AcmeClient (client.ts) is their public
 * face.
 */
import { authorizationFromResponse, jsonObject, locationOf, orderFromResponse } from './responses.ts';
import type { AcmeSession, RequestOptions } from './session.ts';
import type { Authorization, Challenge, Identifier, Order } from './types.ts';

export interface NewOrderRequest extends RequestOptions {
  readonly identifiers: readonly Identifier[];
  readonly notBefore?: Date | string;
  readonly notAfter?: Date | string;
  /** RFC 9773 §5: the CertID of the certificate this order replaces. */
  readonly replaces?: string;
  /** draft-ietf-acme-profiles: a name from the directory's meta.profiles. */
  readonly profile?: string;
}

export async function newOrder(s: AcmeSession, request: NewOrderRequest): Promise<Order> {
  const dir = await s.directory(request);
  const payload: Record<string, unknown> = {
    identifiers: request.identifiers.map((i) => ({ type: i.type, value: i.type === 'ip' ? canonicalIp(i.value) : i.value })),
  };
  if (request.notBefore !== undefined) payload.notBefore = rfc3339(request.notBefore);
  if (request.notAfter !== undefined) payload.notAfter = rfc3339(request.notAfter);
  if (request.replaces !== undefined) payload.replaces = request.replaces;
  if (request.profile !== undefined) payload.profile = request.profile;
  const res = await s.post(dir.newOrder, payload, { context: 'creating order', signal: request.signal });
  return orderFromResponse(res, s.now(), locationOf(res, 'creating order'), 'creating order');
}

/** POST-as-GET of an order (§7.4), or the CSR to its finalize URL, whose answer is the order too. */
export async function postToOrder(s: AcmeSession, orderUrl: string, target: string, payload: unknown, context: string, options: RequestOptions): Promise<Order> {
  const res = await s.post(target, payload, { context, signal: options.signal });
  return orderFromResponse(res, s.now(), orderUrl, context);
}

/** POST-as-GET of an authorization (§7.5), or its deactivation (§7.5.2). */
export async function postToAuthorization(s: AcmeSession, url: string, payload: unknown, context: string, options: RequestOptions): Promise<Authorization> {
  const res = await s.post(url, payload, { context, signal: options.signal });
  return authorizationFromResponse(res, s.now(), url, context);
}

/** POST-as-GET of a challenge, or the empty object that says it is ready (§7.5.1). */
export async function postToChallenge(s: AcmeSession, url: string, payload: unknown, context: string, options: RequestOptions): Promise<Challenge> {
  const res = await s.post(url, payload, { context, signal: options.signal });
  return { url, ...jsonObject<Omit<Challenge, 'url'>>(res, context) };
}

/**
 * RFC 8738 §3: an IPv6 identifier is in the text form of RFC 5952 §4. The WHATWG URL parser
 * produces exactly that form (lower case, longest zero run compressed), brackets stripped here.
 */
function canonicalIp(value: string): string {
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  // IPv4 stays as written; so do IPv4-mapped IPv6 forms, which RFC 5952 §5 writes with a dotted quad.
  if (!bare.includes(':') || bare.includes('.')) return bare;
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return bare; // not an address: let the CA say so in its own words
  }
}

function rfc3339(v: Date | string): string {
  return typeof v === 'string' ? v : v.toISOString();
}
