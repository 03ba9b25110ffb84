/**
 * reverse_proxy's response handlers at run time (Caddy's reverseproxy.go, the HandleResponse loop):
 * which handler takes an upstream response head, and the response a handle_response block gets
 * instead of the relay (copy_response, copy_response_headers and the placeholders read it).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { ResponseHandler, ResponseMatcher } from '../config/types.ts';
import { statusMatches } from './health.ts';
import { headerValueMatches } from '../util/header-value-match.ts';

/** What the first matching handler says: relay with another status, or run handle_response N. */
export type Interception = { readonly kind: 'status'; readonly status: number } | { readonly kind: 'handle'; readonly index: number };

/** Caddy's rule: the first handler whose matcher takes the response (no matcher: any) applies, and only it. */
export function matchResponse(
  handlers: readonly ResponseHandler[],
  status: number,
  headers: IncomingHttpHeaders,
  expand: (template: string) => string,
): Interception | undefined {
  for (const [index, h] of handlers.entries()) {
    if (h.matcher !== undefined && !responseMatches(h.matcher, status, headers)) continue;
    if (typeof h.statusReplace === 'number') return { kind: 'status', status: h.statusReplace };
    if (h.statusReplace !== undefined) {
      // A placeholder status that is no status (empty, not a number) leaves the upstream's.
      const replaced = Number(expand(h.statusReplace));
      return Number.isInteger(replaced) && replaced >= 100 && replaced <= 999 ? { kind: 'status', status: replaced } : undefined;
    }
    return { kind: 'handle', index };
  }
  return undefined;
}

/** Caddy's ResponseMatcher.Match: a status listed (any one), and every header given. */
export function responseMatches(m: ResponseMatcher, status: number, headers: IncomingHttpHeaders): boolean {
  if (m.status !== undefined && !m.status.some((s) => statusMatches(status, s))) return false;
  for (const { name, values } of m.headers ?? []) {
    const raw = headers[name.toLowerCase()];
    const actual = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    if (actual.length === 0) return false;
    if (values.length > 0 && !actual.some((a) => values.some((v) => headerValueMatches(a, v)))) return false;
  }
  return true;
}

/**
 * An upstream response a handle_response block took: its head as the upstream sent it, and its
 * body, not yet read (the upstream is paused while nobody reads it). Whoever ran the block calls
 * discard() afterwards, which drops what copy_response did not take.
 */
export interface InterceptedResponse {
  readonly status: number;
  /** As the upstream sent them (lower-case names). */
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
  /** The headers the relay would send: hop-by-hop removed, header_down applied. May throw. */
  readonly relayHeaders: () => OutgoingHttpHeaders;
}

/** copy_response: the status (STATUS or the upstream's), the relayed headers and the body. */
export async function copyResponse(
  r: InterceptedResponse,
  res: { writeHead(status: number, headers: OutgoingHttpHeaders): unknown; headersSent: boolean } & NodeJS.WritableStream,
  status?: number,
): Promise<void> {
  res.writeHead(status ?? r.status, r.relayHeaders());
  // A failure either side cuts the client off (nothing truthful can follow a sent status) and
  // aborts the upstream (the body's destroy).
  await pipeline(r.body, res).catch(() => undefined);
}

/** The body nobody copied: dropped, the upstream request aborted if it had not ended. */
export function discard(r: InterceptedResponse): void {
  if (!r.body.destroyed && !r.body.readableEnded) r.body.destroy();
}
