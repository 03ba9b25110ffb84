import * as http from '../util/node-http.ts';
import * as https from 'node:https';
import { MyServerError } from '../errors.ts';
import { hasAcmeSubscribers, publishAcmeEvent } from './events.ts';

/**
 * The ACME client's HTTP transport: node:https (not fetch) so that the ACME server's own HTTPS can be
 * checked against a custom root (`caRoots`), every request bounded by a timeout and an AbortSignal.
 * No redirects are followed and nothing is retried here; the client decides.
 */
export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The request URL, for resolving relative Location/Link values. */
  readonly url: string;
}

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal | undefined;
  /** A gerund phrase for error messages: "fetching directory". */
  readonly context: string;
}

export interface HttpTransportOptions {
  /** PEM of the roots to trust instead of the system's; undefined keeps Node's defaults. */
  readonly caRoots?: string;
  readonly timeoutMs: number;
  readonly userAgent: string;
}

/** Certificate chains and JSON resources are a few KiB; this only stops a runaway response. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class HttpTransport {
  readonly #httpsAgent: https.Agent;
  readonly #httpAgent: http.Agent;
  readonly #timeoutMs: number;
  readonly #userAgent: string;

  constructor(options: HttpTransportOptions) {
    // Keep-alive: one issuance is a dozen requests to the same host.
    this.#httpsAgent = new https.Agent({
      keepAlive: true,
      ...(options.caRoots === undefined ? {} : { ca: options.caRoots }),
    });
    this.#httpAgent = new http.Agent({ keepAlive: true });
    this.#timeoutMs = options.timeoutMs;
    this.#userAgent = options.userAgent;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new MyServerError('MS_ERR_ACME_PROTOCOL', `${req.context}: unsupported URL ${req.url}`);
    }
    req.signal?.throwIfAborted();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`no response within ${this.#timeoutMs}ms`)), this.#timeoutMs);
    const onAbort = (): void => ac.abort(req.signal?.reason);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#send(url, req, ac.signal);
    } catch (err) {
      if (req.signal?.aborted === true) {
        throw new MyServerError('MS_ERR_ABORTED', `${req.context}: aborted`, { cause: req.signal.reason });
      }
      if (err instanceof MyServerError) throw err;
      const cause = ac.signal.aborted ? ac.signal.reason : err;
      throw new MyServerError('MS_ERR_ACME_NETWORK', `${req.context}: ${req.method} ${req.url}`, { cause });
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Closes idle keep-alive sockets. Requests after close still work (on new sockets). */
  close(): void {
    this.#httpsAgent.destroy();
    this.#httpAgent.destroy();
  }

  async #send(url: URL, req: HttpRequest, signal: AbortSignal): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    const mod = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.#httpsAgent : this.#httpAgent;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const r = mod.request(url, { method: req.method, headers, agent, signal }, resolve);
      r.on('error', reject);
      r.end(req.body);
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy();
        throw new MyServerError('MS_ERR_ACME_PROTOCOL', `${req.context}: response larger than ${MAX_BODY_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    noteClockSkew(res.headers.date, req.url);
    return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url: req.url };
  }
}

/** A minute: well above the Date header's one-second resolution plus a slow response. */
const MAX_CLOCK_SKEW_MS = 60_000;

/** Publishes a `clock-skew` event (acme/events.ts) when the CA's Date is off by more than a minute. */
function noteClockSkew(date: string | undefined, url: string): void {
  if (date === undefined || !hasAcmeSubscribers('clock-skew')) return;
  const caTime = Date.parse(date);
  if (Number.isNaN(caTime)) return;
  const skewMs = Date.now() - caTime;
  if (Math.abs(skewMs) > MAX_CLOCK_SKEW_MS) publishAcmeEvent({ type: 'clock-skew', url, skewMs, caDate: date });
}

/**
 * Parses Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns ms from `now`, never
 * negative; undefined when the header is absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Date.parse also accepts bare numbers and ISO strings; RFC 9110 only allows IMF-fixdate and two
  // obsolete forms, all of which contain a weekday name and a month name.
  if (!/[a-z]{3}/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The first value of a header node may have joined or kept as an array. */
export function headerValue(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Link header targets with the given relation (RFC 8288), resolved against the request URL. Node
 * joins repeated Link headers with ", ", so split on "," before each "<".
 */
export function linkTargets(res: HttpResponse, rel: string): string[] {
  const raw = res.headers.link;
  if (raw === undefined) return [];
  const joined = Array.isArray(raw) ? raw.join(', ') : raw;
  const out: string[] = [];
  for (const part of joined.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/s.exec(part);
    if (m === null) continue;
    const params = m[2] ?? '';
    const relMatch = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const rels = (relMatch?.[1] ?? relMatch?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rels.includes(rel.toLowerCase())) out.push(new URL(m[1] ?? '', res.url).href);
  }
  return out;
}
