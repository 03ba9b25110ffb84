/**
 * Placeholder values for matchers: CEL's `{x}` shorthand (`ph(req, "x")`), `vars` keys in braces,
 * and placeholders inside matcher values (header, query, vars, file). Caddy's Replacer.Get: a
 * known name gives its value, an unknown one undefined (which ReplaceAll turns into '').
 */
import { requestHost, type Req, type RequestContext } from '../context.ts';

const SHORT: Readonly<Record<string, string>> = {
  host: 'http.request.host',
  hostport: 'http.request.hostport',
  port: 'http.request.port',
  uri: 'http.request.uri',
  path: 'http.request.uri.path',
  dir: 'http.request.uri.path.dir',
  file: 'http.request.uri.path.file',
  query: 'http.request.uri.query',
  method: 'http.request.method',
  scheme: 'http.request.scheme',
  remote: 'http.request.remote',
  remote_host: 'http.request.remote.host',
  remote_port: 'http.request.remote.port',
  client_ip: 'http.vars.client_ip',
};

const PREFIXES: readonly (readonly [string, string])[] = [
  ['header.', 'http.request.header.'],
  ['query.', 'http.request.uri.query.'],
  ['cookie.', 'http.request.cookie.'],
  ['vars.', 'http.vars.'],
  ['re.', 'http.regexp.'],
  ['file_match.', 'http.matchers.file.'],
  ['err.', 'http.error.'],
];

/** Caddy's long name for a placeholder written in its short form. */
export function longName(name: string): string {
  const short = SHORT[name];
  if (short !== undefined) return short;
  for (const [from, to] of PREFIXES) if (name.startsWith(from)) return to + name.slice(from.length);
  return name;
}

export function placeholderValue(rawName: string, req: Req, ctx: RequestContext): unknown {
  const name = longName(rawName);
  switch (name) {
    case 'http.request.host':
      return ctx.host;
    case 'http.request.hostport':
      return requestHost(req);
    case 'http.request.port': {
      const m = /:(\d+)$/.exec(requestHost(req));
      return m ? m[1] : ctx.scheme === 'https' ? '443' : '80';
    }
    case 'http.request.uri':
      return req.url ?? '/';
    case 'http.request.uri.path':
      return ctx.path;
    case 'http.request.uri.path.dir': {
      const i = ctx.path.lastIndexOf('/');
      return ctx.path.slice(0, i + 1);
    }
    case 'http.request.uri.path.file':
      return ctx.path.slice(ctx.path.lastIndexOf('/') + 1);
    case 'http.request.uri.query':
      return ctx.query;
    case 'http.request.method':
      return req.method ?? 'GET';
    case 'http.request.scheme':
      return ctx.scheme;
    case 'http.request.proto':
      return `HTTP/${req.httpVersion}`;
    case 'http.request.remote':
      return ctx.remoteAddress.includes(':') ? `[${ctx.remoteAddress}]:${req.socket.remotePort ?? ''}` : `${ctx.remoteAddress}:${req.socket.remotePort ?? ''}`;
    case 'http.request.remote.host':
      return ctx.remoteAddress;
    case 'http.request.remote.port':
      return String(req.socket.remotePort ?? '');
    case 'http.vars.client_ip':
      return ctx.clientIp ?? ctx.remoteAddress;
  }
  if (name.startsWith('http.request.header.')) {
    const values = headerValues(req, name.slice('http.request.header.'.length));
    return values.length === 0 ? undefined : values.join(',');
  }
  if (name.startsWith('http.request.uri.query.')) {
    return queryFirst(ctx.query, name.slice('http.request.uri.query.'.length));
  }
  if (name.startsWith('http.request.cookie.')) return cookie(req, name.slice('http.request.cookie.'.length));
  if (name.startsWith('http.vars.')) return ctx.vars?.get(name.slice('http.vars.'.length));
  if (name.startsWith('env.')) return process.env[name.slice(4)];
  return ctx.values?.get(name);
}

/** A placeholder value as text, as Caddy's Replacer shows values: '' for none. */
export function placeholderText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return String(value);
}

const PLACEHOLDER = /\{([^{}\s]+)\}/g;

/** Caddy's ReplaceAll(s, ''): every placeholder expanded, unknown ones to ''. */
export function expandAll(template: string, req: Req, ctx: RequestContext): string {
  if (!template.includes('{')) return template;
  return template.replace(PLACEHOLDER, (_whole, name: string) => placeholderText(placeholderValue(name, req, ctx)));
}

/**
 * The values of a header field, each field line separately (as Go's Header keeps them), by a
 * case-insensitive name. `Host` is the request's host (`:authority` in HTTP/2).
 */
export function headerValues(req: Req, name: string): readonly string[] {
  return headerValuesLower(req, name.toLowerCase());
}

/** headerValues of a name already in lower case (matchers lower-case theirs once per config). */
export function headerValuesLower(req: Req, lower: string): readonly string[] {
  if (lower === 'host') {
    const host = requestHost(req);
    return host === '' ? [] : [host];
  }
  // HTTP/1 keeps every line (rawHeaders, below); `headers` joins or drops repeated ones.
  // HTTP/2 has no such view; its headers object is already one per stream (nghttp2 joins
  // repeated fields other than cookies, which RFC 9113 allows).
  // A field absent from `headers` is absent from every view.
  if (req.headers[lower] === undefined) return NONE;
  // The lines of that one field from rawHeaders, as headersDistinct would list them: building
  // headersDistinct (an object and an array for every field of the request) cost more than the
  // header matchers of the issue-9 bench site themselves.
  if ('headersDistinct' in req) return rawLines(req.rawHeaders, lower);
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

function queryFirst(query: string, key: string): string | undefined {
  const parsed = parseGoQuery(query);
  return parsed.values.get(key)?.[0];
}

function cookie(req: Req, name: string): string | undefined {
  for (const line of headerValues(req, 'cookie')) {
    for (const part of line.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    }
  }
  return undefined;
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
