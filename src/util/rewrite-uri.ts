/**
 * Caddy's rewrite of a request target (rewrite.go): the `rewrite` directive and reverse_proxy's
 * `rewrite` (forward_auth's `uri`) are the same operation on a decoded path and a raw query, so
 * the placeholder escaping of the query part is the same in both.
 */

/**
 * A decoded path as a request-target path: what must not appear raw escaped, `?` and `#` included
 * (encodeURI leaves them, so a decoded `%3F` would otherwise start a query upstream).
 */
export function escapePath(path: string): string {
  return encodeURI(path).replace(/[?#]/g, (c) => encodeURIComponent(c));
}

export function decodePath(escaped: string): string {
  try {
    return decodeURIComponent(escaped);
  } catch {
    return escaped;
  }
}

/**
 * `rewrite TO`: TO's path part replaces the path and its query part (when TO has a `?`) the
 * query; a part not written is kept. A `?` that a placeholder brought into the path starts the
 * query when TO gives none (Caddy's "injected" query).
 */
export function rewriteUri(uri: string, expand: (text: string) => string, path: string, query: string): { path: string; query: string } {
  const hash = uri.indexOf('#');
  const target = hash < 0 ? uri : uri.slice(0, hash);
  const q = target.indexOf('?');
  const pathPart = q < 0 ? target : target.slice(0, q);
  let queryPart: string | undefined = q < 0 ? undefined : target.slice(q + 1);
  if (pathPart !== '') {
    // {path} goes in escaped, so that a `?` or `%` in it stays part of the path; it is joined in
    // after the config's text is expanded, so the text expanded stays the config's (a template
    // cache keyed by text would otherwise get one entry per request path).
    const pieces = pathPart.split(/\{(?:path|http\.request\.uri\.path)\}/);
    let newPath = pieces.length === 1 ? expand(pathPart) : pieces.map(expand).join(escapePath(path));
    newPath = newPath.split('#')[0] as string;
    const injected = newPath.indexOf('?');
    if (injected >= 0) {
      if (queryPart === undefined || queryPart === '') queryPart = newPath.slice(injected + 1).replace(/[{}]/g, encodeURIComponent);
      newPath = newPath.slice(0, injected);
    }
    path = decodePath(newPath);
  }
  if (queryPart !== undefined) query = buildQuery(queryPart, expand);
  return { path, query };
}

/**
 * Caddy's buildQueryString: each key and value has its placeholders replaced by query-escaped
 * values, except `{query}` in a key's place, which is the original query as it came (already
 * escaped), so `?{query}&a=1` merges; components that come out empty are dropped with their `&`.
 */
function buildQuery(qs: string, expand: (text: string) => string): string {
  let out = '';
  let wroteVal = true;
  while (qs.length > 0) {
    const amp = qs.indexOf('&');
    const eq: number = wroteVal ? qs.indexOf('=') : -1;
    const ampIsNext: boolean = amp >= 0 && (amp < eq || eq < 0);
    let end = qs.length;
    if (ampIsNext) end = amp;
    else if (eq >= 0 && (eq < amp || amp < 0)) end = eq;
    const key = wroteVal;
    const comp = qs.slice(0, end).replace(/\{([a-z0-9_.]+)\}/g, (whole, name: string) => {
      const value = expand(whole);
      if (value === whole) return whole;
      if (key && (name === 'query' || name === 'http.request.uri.query')) return value;
      return queryEscape(value);
    });
    qs = qs.slice(end < qs.length ? end + 1 : end);
    if (key) {
      if (out.length > 0 && comp.length > 0) out += '&';
    } else out += '=';
    out += comp;
    wroteVal = ampIsNext;
  }
  return out;
}

/** Go's url.QueryEscape: everything but A-Z a-z 0-9 - _ . ~ escaped, space as +. */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/**
 * `url` (a raw request target) rewritten by `uri` as rewriteUri does it. A path the rewrite left
 * as it was keeps its raw form, so an escaped `/` (`%2F`) the client sent reaches the upstream
 * escaped.
 */
export function rewriteRequestTarget(url: string, uri: string, expand: (text: string) => string): string {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const decoded = decodePath(rawPath);
  const { path, query } = rewriteUri(uri, expand, decoded, q < 0 ? '' : url.slice(q + 1));
  return (path === decoded ? rawPath : escapePath(path)) + (query !== '' ? `?${query}` : '');
}
