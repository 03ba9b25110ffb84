/**
 * Request fields as Go's net/http shows them to Caddy: the lines of one header field, and the
 * query string parsed as url.ParseQuery does. Used by the placeholder resolver (util/placeholders.ts)
 * and by the request matchers alike, so both read a request the same way.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { requestAuthority } from './host.ts';

/** What header reading needs of a request; IncomingMessage and Http2ServerRequest are such. */
export interface HeaderSource {
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders?: readonly string[] | undefined;
}

/**
 * The values of a header field, each field line separately (as Go's Header keeps them), by a
 * case-insensitive name. `Host` is the request's host (`:authority` in HTTP/2), as Caddy's header
 * matcher reads it.
 */
export function headerValues(req: HeaderSource, name: string): readonly string[] {
  return headerValuesLower(req, name.toLowerCase());
}

/** headerValues of a name already in lower case (matchers lower-case theirs once per config). */
export function headerValuesLower(req: HeaderSource, lower: string): readonly string[] {
  if (lower === 'host') {
    const host = requestAuthority(req.headers);
    return host === '' ? NONE : [host];
  }
  // HTTP/1 keeps every line (rawHeaders, below); `headers` joins or drops repeated ones.
  // HTTP/2 has no such view; its headers object is already one per stream (nghttp2 joins
  // repeated fields other than cookies, which RFC 9113 allows).
  // A field absent from `headers` is absent from every view.
  if (req.headers[lower] === undefined) return NONE;
  // The lines of that one field from rawHeaders, as headersDistinct would list them: building
  // headersDistinct (an object and an array for every field of the request) cost more than the
  // header matchers of the issue-9 bench site themselves.
  if ('headersDistinct' in req && req.rawHeaders !== undefined) return rawLines(req.rawHeaders, lower);
  const v = req.headers[lower];
  return v === undefined ? NONE : Array.isArray(v) ? v : [v];
}

const NONE: readonly string[] = Object.freeze([]);

function rawLines(raw: readonly string[], lower: string): readonly string[] {
  let out: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lower.length && (name === lower || name.toLowerCase() === lower)) (out ??= []).push(raw[i + 1] as string);
  }
  return out ?? NONE;
}

/**
 * Go's url.ParseQuery: pairs split on `&`, `+` is a space, percent-escapes decoded. A pair with a
 * `;` or a bad escape is skipped and makes `ok` false (Caddy's query matcher then matches nothing).
 */
export function parseGoQuery(query: string): { values: Map<string, string[]>; ok: boolean } {
  const values = new Map<string, string[]>();
  let ok = true;
  for (const pair of query.split('&')) {
    if (pair.includes(';')) {
      ok = false;
      continue;
    }
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const k = unescapeQuery(eq < 0 ? pair : pair.slice(0, eq));
    const v = unescapeQuery(eq < 0 ? '' : pair.slice(eq + 1));
    if (k === undefined || v === undefined) {
      ok = false;
      continue;
    }
    const list = values.get(k);
    if (list === undefined) values.set(k, [v]);
    else list.push(v);
  }
  return { values, ok };
}

function unescapeQuery(s: string): string | undefined {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}
