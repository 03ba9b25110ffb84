/**
 * Caddy's log encoders on a parsed log entry: `filter` (per-field filters, fields nested with `>`)
 * and `append`, then json or console. Semantics follow Caddy's modules/logging (filters.go,
 * filterencoder.go, appendencoder.go); where Caddy depends on Go's zap types, this works on the
 * JSON values: strings, and arrays of strings (header values), are what filters change.
 */
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { hostname } from 'node:os';
import type { LogAppendField, LogFieldFilter, LogFormat, LogValueAction } from './config/types.ts';
import { queryEscape } from './util/rewrite-uri.ts';

export type LogRecord = Record<string, unknown>;

/**
 * Applies the filter and append layers of `format` to `rec`, outermost first (each layer hands
 * what it made to the one it wraps, as Caddy's encoders do), and returns the innermost encoder:
 * json, console, or undefined for the default.
 */
export function transformRecord(rec: LogRecord, format: LogFormat | undefined): 'json' | 'console' | undefined {
  let f = format;
  while (f !== undefined && typeof f === 'object') {
    if (f.kind === 'filter') for (const filter of f.fields) applyFilter(rec, filter);
    else for (const field of f.fields) rec[field.name] = appendValue(field);
    f = f.wrap;
  }
  return f;
}

/** Whether `format` changes entries (so a shared entry must be copied before it is encoded). */
export function transforms(format: LogFormat | undefined): boolean {
  return format !== undefined && typeof format === 'object';
}

export function applyFilter(rec: LogRecord, f: LogFieldFilter): void {
  const path = f.field.split('>');
  const key = path.pop() as string;
  let parent: unknown = rec;
  for (const p of path) {
    parent = isObject(parent) ? parent[p] : undefined;
  }
  if (!isObject(parent) || !Object.hasOwn(parent, key)) return;
  const value = parent[key];
  switch (f.filter) {
    case 'delete':
      delete parent[key];
      return;
    case 'rename':
      delete parent[key];
      parent[f.name] = value;
      return;
    case 'replace':
      parent[key] = f.value;
      return;
    case 'hash':
      parent[key] = mapStrings(value, hash);
      return;
    case 'ip_mask':
      parent[key] = mapStrings(value, (s) => maskIps(s, f.ipv4, f.ipv6));
      return;
    case 'regexp':
      parent[key] = mapStrings(value, (s) => s.replace(compiled(f.pattern, f.flags ?? ''), f.replacement));
      return;
    case 'query':
      parent[key] = mapStrings(value, (s) => filterQuery(s, f.actions));
      return;
    case 'cookie':
      // Caddy filters the Cookie header's values (an array); a lone string is one such value.
      parent[key] = filterCookies(typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [], f.actions);
      return;
  }
}

/** Each pattern compiled once (the config is frozen, so the RegExp cannot live in it: replace() writes lastIndex). */
const patterns = new Map<string, RegExp>();
function compiled(source: string, flags: string): RegExp {
  const key = `${flags}/${source}`;
  let re = patterns.get(key);
  if (re === undefined) patterns.set(key, (re = new RegExp(source, `${flags}g`)));
  return re;
}

function isObject(v: unknown): v is LogRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string, each string of an array, or a number's or boolean's text; anything else unchanged. */
function mapStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v: unknown) => (typeof v === 'string' ? fn(v) : v));
  if (typeof value === 'number' || typeof value === 'boolean') return fn(String(value));
  return value;
}

/** The first 4 bytes of the SHA-256 of `s`, in lowercase hex (Caddy's hash filter). */
export function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/**
 * Masks every IP address of a comma-separated list, each with or without a port, keeping the first
 * `v4`/`v6` bits. A value that is not an address is kept. A family without a prefix length is masked
 * entirely (Caddy writes "<nil>" there, which keeps no more of the address).
 */
export function maskIps(s: string, v4: number | undefined, v6: number | undefined): string {
  return s
    .split(',')
    .map((part) => {
      const value = part.trim();
      const hp = splitHostPort(value);
      const host = hp?.[0] ?? value;
      let masked: string | undefined;
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
      if (isIPv4(host) || mapped) masked = maskV4(mapped ? (mapped[1] as string) : host, v4 ?? 0);
      else if (isIPv6(host)) masked = maskV6(host, v6 ?? 0);
      if (masked === undefined) return value;
      if (hp === undefined) return masked;
      return masked.includes(':') ? `[${masked}]:${hp[1]}` : `${masked}:${hp[1]}`;
    })
    .join(', ');
}

/** Go's net.SplitHostPort for the forms an address field holds: `1.2.3.4:80`, `[::1]:80`. */
function splitHostPort(v: string): [string, string] | undefined {
  if (v.startsWith('[')) {
    const m = /^\[([^\]]+)\]:(\d*)$/.exec(v);
    return m ? [m[1] as string, m[2] as string] : undefined;
  }
  const i = v.lastIndexOf(':');
  if (i < 0 || v.indexOf(':') !== i) return undefined;
  return [v.slice(0, i), v.slice(i + 1)];
}

function maskV4(ip: string, bits: number): string {
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const m = (n & mask) >>> 0;
  return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join('.');
}

function maskV6(ip: string, bits: number): string {
  const bytes = ipv6Bytes(ip);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = (bytes[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  // The URL parser prints IPv6 in RFC 5952's canonical form, as Go's net.IP.String() does.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** The 16 bytes of an IPv6 address (already checked by isIPv6), embedded IPv4 and zone included. */
function ipv6Bytes(ip: string): number[] {
  let text = ip.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -(v4[1] as string).length) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 255];
  });
}

/**
 * Caddy's query filter on a URI: parse the query as Go's url.Query does, apply the actions, and
 * re-encode it as Go's Values.Encode does (keys sorted, values escaped with `+` for spaces).
 */
export function filterQuery(uri: string, actions: readonly LogValueAction[]): string {
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const values = new Map<string, string[]>();
  for (const pair of uri.slice(q + 1).split('&')) {
    // Go's ParseQuery drops pairs it cannot read: a `;` in them, or a bad escape.
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const k = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const v = queryUnescape(eq < 0 ? '' : pair.slice(eq + 1));
    if (k === undefined || v === undefined) continue;
    values.set(k, [...(values.get(k) ?? []), v]);
  }
  for (const a of actions) {
    const vs = values.get(a.name);
    if (vs === undefined) continue;
    if (a.type === 'replace') values.set(a.name, vs.map(() => a.value));
    else if (a.type === 'hash') values.set(a.name, vs.map(hash));
    else values.delete(a.name);
  }
  const encoded = [...values.keys()]
    .sort()
    .flatMap((k) => (values.get(k) as string[]).map((v) => `${queryEscape(k)}=${queryEscape(v)}`))
    .join('&');
  return uri.slice(0, q) + (encoded === '' ? '' : `?${encoded}`);
}

function queryUnescape(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/**
 * Caddy's cookie filter on the Cookie header's values: the first action for a cookie's name
 * applies; the cookies come back as one `a=1; b=2` value, as Go's Request.AddCookie writes them.
 */
export function filterCookies(headerValues: readonly string[], actions: readonly LogValueAction[]): string[] {
  const out: string[] = [];
  for (const header of headerValues) {
    for (const part of header.split(';')) {
      const item = part.trim();
      if (item === '') continue;
      const eq = item.indexOf('=');
      if (eq <= 0) continue;
      const name = item.slice(0, eq);
      let value = item.slice(eq + 1);
      const a = actions.find((x) => x.name === name);
      if (a?.type === 'delete') continue;
      if (a?.type === 'replace') value = a.value;
      if (a?.type === 'hash') value = hash(value.replace(/^"(.*)"$/, '$1'));
      out.push(`${name}=${value}`);
    }
  }
  return out.length === 0 ? [] : [out.join('; ')];
}

/**
 * A `format append` value: a string that is exactly one global placeholder is read now (an
 * unknown one is null, as Caddy's Replacer gives); anything else as written.
 */
function appendValue(field: LogAppendField): unknown {
  const v = field.value;
  if (typeof v !== 'string' || !v.startsWith('{') || !v.endsWith('}') || v.split('{').length !== 2) return v;
  const key = v.slice(1, -1);
  if (key.startsWith('env.')) return process.env[key.slice(4)] ?? '';
  if (key === 'system.hostname') return hostname();
  if (key === 'system.os') return process.platform;
  if (key === 'system.arch') return process.arch;
  return null;
}

/** ANSI SGR colour of each level on a terminal. */
const LEVEL_COLOURS: Readonly<Record<string, string>> = {
  trace: '90', // grey
  debug: '36', // cyan
  info: '32', // green
  warn: '33', // yellow
  error: '31', // red
  fatal: '1;31', // bold red
};

export interface ConsoleOptions {
  /** ANSI colours (a terminal that wants them); default false, for files and pipes. */
  readonly colour?: boolean;
}

/**
 * The format a person reads at a glance on a terminal:
 *
 *   2026-12-05 13:04:51.123 WARN  acme  message  key=value nested={"a":1}
 *       Error: what failed            (an `err` field: its stack, causes included, indented)
 *           at …
 *
 * Time in UTC as the JSON lines have it, the level padded (and coloured when `colour`), the
 * logger, the message, then every other field. An error is shown by its stack (pino's serializer
 * puts the causes in it, as "caused by: …") rather than as a JSON blob.
 */
export function consoleLine(rec: LogRecord, options: ConsoleOptions = {}): string {
  const { time, level, logger, msg, err, ...rest } = rec;
  const t = typeof time === 'string' ? time.slice(0, 23).replace('T', ' ') : '';
  const label = String(level).toUpperCase().padEnd(5);
  const colour = options.colour === true ? LEVEL_COLOURS[String(level)] : undefined;
  const lvl = colour === undefined ? label : `\x1b[${colour}m${label}\x1b[0m`;
  const name = options.colour === true ? `\x1b[2m${String(logger)}\x1b[0m` : String(logger);
  const extras = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${lvl} ${name}  ${String(msg ?? '')}${extras ? '  ' + extras : ''}\n${errorBlock(err)}`;
}

/** The stack of a serialized error (or its message, or the value), indented under the line. */
function errorBlock(err: unknown): string {
  if (err === undefined || err === null) return '';
  let text: string;
  if (typeof err === 'object') {
    const e = err as { stack?: unknown; message?: unknown; type?: unknown };
    text = typeof e.stack === 'string' ? e.stack : typeof e.message === 'string' ? `${typeof e.type === 'string' ? e.type : 'Error'}: ${e.message}` : JSON.stringify(err);
  } else {
    text = String(err);
  }
  return text.split('\n').map((l) => `    ${l}\n`).join('');
}
