import { MyServerError } from '../errors.ts';
import { headerValue, parseRetryAfter, type HttpResponse } from './http.ts';
import { AcmeProblem } from './problem.ts';
import type { Authorization, Order } from './types.ts';

/**
 * Reading the CA's answers: problem documents, JSON resources and their headers. Anything a 2xx
 * answer lacks that the client needs is MS_ERR_ACME_PROTOCOL, with the URL that sent it.
 */

/** The AcmeProblem for an error response; a page that is no problem document keeps its status. */
export function problemFromResponse(res: HttpResponse, now: number): AcmeProblem {
  const retryAfter = parseRetryAfter(headerValue(res, 'retry-after'), now);
  const context = { status: res.status, url: res.url, ...(retryAfter === undefined ? {} : { retryAfter }) };
  const text = res.body.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const isProblemJson = (headerValue(res, 'content-type') ?? '').includes('problem+json');
  if (typeof doc === 'object' && doc !== null && (isProblemJson || 'type' in doc)) return AcmeProblem.fromDocument(doc, context);
  // A proxy's error page, say: keep the status and a short excerpt of the text.
  const excerpt = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
  return AcmeProblem.fromDocument({ detail: `HTTP ${res.status}${excerpt === '' ? '' : `: ${excerpt}`}` }, context);
}

export function jsonObject<T>(res: HttpResponse, context: string): T {
  let v: unknown;
  try {
    v = JSON.parse(res.body.toString('utf8'));
  } catch (err) {
    throw new MyServerError('MS_ERR_ACME_PROTOCOL', `${context}: invalid JSON from ${res.url}`, { cause: err });
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as T;
  throw new MyServerError('MS_ERR_ACME_PROTOCOL', `${context}: expected a JSON object from ${res.url}`);
}

/** The Location header, resolved against the request URL. */
export function locationOf(res: HttpResponse, context: string): string {
  const loc = headerValue(res, 'location');
  if (loc === undefined || loc === '') throw new MyServerError('MS_ERR_ACME_PROTOCOL', `${context}: no Location header from ${res.url}`);
  return new URL(loc, res.url).href;
}

export function orderFromResponse(res: HttpResponse, now: number, url: string, context: string): Order {
  const o = jsonObject<Omit<Order, 'url' | 'retryAfterMs'>>(res, context);
  if (typeof o.status !== 'string' || !Array.isArray(o.authorizations) || typeof o.finalize !== 'string') {
    throw new MyServerError('MS_ERR_ACME_PROTOCOL', `${context}: malformed order from ${res.url}`);
  }
  const retryAfterMs = parseRetryAfter(headerValue(res, 'retry-after'), now);
  return { ...o, url, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
}

export function authorizationFromResponse(res: HttpResponse, now: number, url: string, context: string): Authorization {
  const a = jsonObject<Omit<Authorization, 'url' | 'retryAfterMs'>>(res, context);
  if (typeof a.status !== 'string' || !Array.isArray(a.challenges) || typeof a.identifier !== 'object' || a.identifier === null) {
    throw new MyServerError('MS_ERR_ACME_PROTOCOL', `${context}: malformed authorization from ${res.url}`);
  }
  const retryAfterMs = parseRetryAfter(headerValue(res, 'retry-after'), now);
  return { ...a, url, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
}
