/**
 * Caddy's request placeholders: one resolver for every directive (respond, redir, header,
 * header_up/header_down, and the matchers and handlers that read them).
 *
 * A name is resolved when a template names it, from the request and its scope: nothing is computed
 * for names a template does not use, and a template without '{' costs one indexOf. Shorthands are
 * Caddy's Caddyfile ones (httpcaddyfile/shorthands.go: `{host}` is `{http.request.host}`, `{header.X}`
 * is `{http.request.header.X}` …); long names are those of Caddy's replacers (caddy/replacer.go
 * global ones, caddyhttp/replacer.go request ones).
 *
 * Unknown names stay as written, as Caddy's ReplaceKnown leaves them in `respond`, `redir` and
 * every header operation (measured with Caddy 2.6.2: `header_up X a{nope}b` sends `a{nope}b`).
 * Where we depart from Caddy, on purpose:
 * - a known name whose value is absent gives '' (Caddy keeps `{http.request.tls.version}` as text
 *   on a plain-HTTP request, and `{cookie.x}` as text when there is no such cookie);
 * - `{time.now}` has no Go monotonic-clock suffix.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { hostname } from 'node:os';
import path from 'node:path';
import { hostWithoutPort, requestAuthority } from './host.ts';
import { headerValuesLower, parseGoQuery } from './request-fields.ts';

/** The socket fields placeholders read; Node's Socket and TLSSocket (HTTP/2's proxy too) have them. */
export interface PlaceholderSocket {
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly alpnProtocol?: string | false | null | undefined;
  readonly servername?: string | false | null | undefined;
  getProtocol?(): string | null;
  getCipher?(): { readonly name: string; readonly standardName?: string };
  isSessionReused?(): boolean;
  getPeerCertificate?(detailed?: boolean): object;
}

/** What placeholders read of a request; IncomingMessage and Http2ServerRequest are such. */
export interface PlaceholderRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** HTTP/1's header lines as sent: `{header.X}` joins a field's lines with ',' as Go's Header does. */
  readonly rawHeaders?: readonly string[] | undefined;
  readonly httpVersion?: string | undefined;
  readonly socket?: PlaceholderSocket | null | undefined;
}

/**
 * What the request path knows beyond the request (routes/context.ts RequestContext is one). Absent
 * fields are derived from the request.
 */
export interface PlaceholderScope {
  readonly scheme: string;
  readonly remoteAddress: string;
  /** {client_ip}: the servers' client-IP rule applied; absent: the peer. */
  readonly clientIp?: string | undefined;
  /** Host without port, lower case; absent: from the request's authority. */
  readonly host?: string | undefined;
  /** The authority as sent; absent: `:authority` or Host. */
  readonly hostport?: string | undefined;
  /** The path handlers see (cleaned; handle_path strips it); absent: the request-target's. */
  readonly path?: string | undefined;
  readonly query?: string | undefined;
  /** `{vars.NAME}` / `{http.vars.NAME}`. */
  readonly vars?: ReadonlyMap<string, unknown> | undefined;
  /** Values by Caddy's full name set by matchers and handlers (`http.regexp.*`, `http.error.*` …). */
  readonly values?: ReadonlyMap<string, string> | undefined;
  /** "host:port" of the upstream of this attempt: `{upstream_hostport}`. */
  readonly upstream?: string | undefined;
}

type Resolver = (req: PlaceholderRequest, scope: PlaceholderScope) => string;
type PrefixResolver = (rest: string, req: PlaceholderRequest, scope: PlaceholderScope) => string | undefined;

/** Caddyfile shorthands with a fixed name (httpcaddyfile/shorthands.go placeholderShorthands). */
const SHORTHANDS: ReadonlyMap<string, string> = new Map([
  ['host', 'http.request.host'],
  ['hostport', 'http.request.hostport'],
  ['port', 'http.request.port'],
  ['orig_method', 'http.request.orig_method'],
  ['orig_uri', 'http.request.orig_uri'],
  ['orig_path', 'http.request.orig_uri.path'],
  ['orig_dir', 'http.request.orig_uri.path.dir'],
  ['orig_file', 'http.request.orig_uri.path.file'],
  ['orig_query', 'http.request.orig_uri.query'],
  ['orig_?query', 'http.request.orig_uri.prefixed_query'],
  ['method', 'http.request.method'],
  ['uri', 'http.request.uri'],
  ['path', 'http.request.uri.path'],
  ['dir', 'http.request.uri.path.dir'],
  ['file', 'http.request.uri.path.file'],
  ['query', 'http.request.uri.query'],
  ['?query', 'http.request.uri.prefixed_query'],
  ['remote', 'http.request.remote'],
  ['remote_host', 'http.request.remote.host'],
  ['remote_port', 'http.request.remote.port'],
  ['scheme', 'http.request.scheme'],
  ['uuid', 'http.request.uuid'],
  ['tls_cipher', 'http.request.tls.cipher_suite'],
  ['tls_version', 'http.request.tls.version'],
  ['tls_client_fingerprint', 'http.request.tls.client.fingerprint'],
  ['tls_client_issuer', 'http.request.tls.client.issuer'],
  ['tls_client_serial', 'http.request.tls.client.serial'],
  ['tls_client_subject', 'http.request.tls.client.subject'],
  ['tls_client_certificate_pem', 'http.request.tls.client.certificate_pem'],
  ['tls_client_certificate_der_base64', 'http.request.tls.client.certificate_der_base64'],
  ['upstream_hostport', 'http.reverse_proxy.upstream.hostport'],
  ['client_ip', 'http.vars.client_ip'],
]);

/** Caddyfile shorthands with a free last part (`{header.X}`), in Caddy's order. */
const PREFIX_SHORTHANDS: readonly (readonly [string, string])[] = [
  ['header.', 'http.request.header.'],
  ['cookie.', 'http.request.cookie.'],
  ['labels.', 'http.request.host.labels.'],
  ['path.', 'http.request.uri.path.'],
  ['file.', 'http.request.uri.path.file.'],
  ['query.', 'http.request.uri.query.'],
  ['re.', 'http.regexp.'],
  ['vars.', 'http.vars.'],
  ['rp.', 'http.reverse_proxy.'],
  ['resp.', 'http.intercept.'],
  ['err.', 'http.error.'],
  ['file_match.', 'http.matchers.file.'],
];

/** Caddy's full name of a placeholder name as written. */
export function canonicalName(name: string): string {
  const fixed = SHORTHANDS.get(name);
  if (fixed !== undefined) return fixed;
  for (const [short, long] of PREFIX_SHORTHANDS) {
    if (name.startsWith(short) && name.length > short.length) return long + name.slice(short.length);
  }
  return name;
}

const targetPath = (req: PlaceholderRequest, scope: PlaceholderScope): string => {
  if (scope.path !== undefined) return scope.path;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

const targetQuery = (req: PlaceholderRequest, scope: PlaceholderScope): string => {
  if (scope.query !== undefined) return scope.query;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
};

const authority = (req: PlaceholderRequest, scope: PlaceholderScope): string => scope.hostport ?? requestAuthority(req.headers);

/** The host part of an authority with its case kept (hostWithoutPort lower-cases, for routing). */
function hostAsSent(a: string): string {
  const lower = hostWithoutPort(a);
  const at = a.toLowerCase().indexOf(lower);
  return at < 0 ? lower : a.slice(at, at + lower.length);
}

/** Go's net.SplitHostPort port, or '' (Caddy's {port} is empty when the Host has none). */
function portOf(hostport: string): string {
  const m = /^(?:\[[^\]]*\]|[^:]*):(\d+)$/.exec(hostport);
  return m?.[1] ?? '';
}

/** `/a/b.txt` → dir `/a/`, file `b.txt` (Go's path.Split). */
function splitPath(p: string): { dir: string; file: string } {
  const slash = p.lastIndexOf('/');
  return { dir: p.slice(0, slash + 1), file: p.slice(slash + 1) };
}

function tls(req: PlaceholderRequest): PlaceholderSocket | undefined {
  const s = req.socket;
  return s != null && typeof s.getProtocol === 'function' ? s : undefined;
}

/** Node's protocol names ("TLSv1.3") as Caddy writes them ("tls1.3", caddytls.ProtocolName). */
function protocolName(p: string | null | undefined): string {
  if (p == null) return '';
  const m = /^TLSv(\d(?:\.\d)?)$/.exec(p);
  if (m === null) return p;
  return `tls${m[1]!.includes('.') ? m[1]! : `${m[1]!}.0`}`;
}

interface PeerCert {
  readonly raw?: Buffer;
  readonly fingerprint256?: string;
  readonly serialNumber?: string;
  readonly subject?: Readonly<Record<string, string | string[]>>;
  readonly issuer?: Readonly<Record<string, string | string[]>>;
}

function peerCert(req: PlaceholderRequest): PeerCert | undefined {
  const cert = tls(req)?.getPeerCertificate?.(false) as PeerCert | undefined;
  return cert?.raw === undefined ? undefined : cert;
}

/** A distinguished name in Go's pkix.Name.String() order and syntax: "CN=a,O=b,C=c". */
function distinguishedName(dn: Readonly<Record<string, string | string[]>> | undefined): string {
  if (dn === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(dn).reverse()) for (const one of Array.isArray(v) ? v : [v]) parts.push(`${k}=${one}`);
  return parts.join(',');
}

/**
 * Caddy's `strings.Join(req.Header[field], ",")`: each field line kept apart, joined by ','. Go moves
 * Host out of the header map into req.Host, so `{header.Host}` is empty (Caddy 2.6.2 answers '').
 */
function header(req: PlaceholderRequest, name: string): string {
  const lower = name.toLowerCase();
  return lower === 'host' ? '' : headerValuesLower(req, lower).join(',');
}

/** Go's time.Time String() without the monotonic reading: "2006-01-02 15:04:05.000 +0000 UTC". */
function goTime(d: Date): string {
  return `${d.toISOString().replace('T', ' ').replace('Z', '')} +0000 UTC`;
}

/** Common Log Format time, "02/Jan/2006:15:04:05 +0000", in UTC. */
function commonLogTime(d: Date): string {
  const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${month}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** An address as the host of Go's net.JoinHostPort: IPv6 in brackets. */
function bracketed(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** One id per request, made when first asked for (Caddy's requestID is lazy too). */
const uuids = new WeakMap<object, string>();

/** Upstream "host:port" split as Go's net.SplitHostPort. */
function upstreamPart(scope: PlaceholderScope, part: 'host' | 'port'): string {
  const up = scope.upstream ?? '';
  const port = portOf(up);
  if (part === 'port') return port;
  const host = port === '' ? up : up.slice(0, up.length - port.length - 1);
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** Caddy's http.request.host: r.Host without the port, case kept as the client sent it. */
function hostName(req: PlaceholderRequest, scope: PlaceholderScope): string {
  const sent = hostAsSent(authority(req, scope));
  return scope.host === undefined || sent.toLowerCase() === scope.host ? sent : scope.host;
}

const EXACT: ReadonlyMap<string, Resolver> = new Map<string, Resolver>([
  ['http.request.method', (req) => req.method ?? 'GET'],
  ['http.request.scheme', (_req, scope) => scope.scheme],
  ['http.request.proto', (req) => (req.httpVersion === '2.0' ? 'HTTP/2.0' : `HTTP/${req.httpVersion ?? '1.1'}`)],
  // As the client sent it (Caddy: r.Host without the port, case kept), not the lower-cased routing host.
  ['http.request.host', hostName],
  ['http.request.hostport', authority],
  ['http.request.port', (req, scope) => portOf(authority(req, scope))],
  ['http.request.local', (req) => `${bracketed(req.socket?.localAddress ?? '')}:${req.socket?.localPort ?? ''}`],
  ['http.request.local.host', (req) => req.socket?.localAddress ?? ''],
  ['http.request.local.port', (req) => String(req.socket?.localPort ?? '')],
  ['http.request.remote', (req, scope) => `${bracketed(scope.remoteAddress)}:${req.socket?.remotePort ?? ''}`],
  ['http.request.remote.host', (_req, scope) => scope.remoteAddress],
  ['http.request.remote.port', (req) => String(req.socket?.remotePort ?? '')],
  ['http.request.uri', (req) => req.url ?? '/'],
  ['http.request.uri.path', targetPath],
  ['http.request.uri.path.dir', (req, scope) => splitPath(targetPath(req, scope)).dir],
  ['http.request.uri.path.file', (req, scope) => splitPath(targetPath(req, scope)).file],
  ['http.request.uri.path.file.base', (req, scope) => path.posix.basename(targetPath(req, scope), path.posix.extname(targetPath(req, scope)))],
  ['http.request.uri.path.file.ext', (req, scope) => path.posix.extname(targetPath(req, scope))],
  ['http.request.uri.query', targetQuery],
  ['http.request.uri.prefixed_query', (req, scope) => (targetQuery(req, scope) === '' ? '' : `?${targetQuery(req, scope)}`)],
  // Handlers rewrite scope.path, never req.url: the request-target is the original request's.
  ['http.request.orig_method', (req) => req.method ?? 'GET'],
  ['http.request.orig_uri', (req) => req.url ?? '/'],
  ['http.request.orig_uri.path', (req) => targetPath(req, {} as PlaceholderScope)],
  ['http.request.orig_uri.path.dir', (req) => splitPath(targetPath(req, {} as PlaceholderScope)).dir],
  ['http.request.orig_uri.path.file', (req) => splitPath(targetPath(req, {} as PlaceholderScope)).file],
  ['http.request.orig_uri.query', (req) => targetQuery(req, {} as PlaceholderScope)],
  ['http.request.orig_uri.prefixed_query', (req) => (targetQuery(req, {} as PlaceholderScope) === '' ? '' : `?${targetQuery(req, {} as PlaceholderScope)}`)],
  [
    'http.request.uuid',
    (req) => {
      let id = uuids.get(req);
      if (id === undefined) uuids.set(req, (id = randomUUID()));
      return id;
    },
  ],
  ['http.request.tls.version', (req) => protocolName(tls(req)?.getProtocol?.())],
  ['http.request.tls.cipher_suite', (req) => tls(req)?.getCipher?.().standardName ?? tls(req)?.getCipher?.().name ?? ''],
  ['http.request.tls.resumed', (req) => (tls(req) === undefined ? '' : String(tls(req)?.isSessionReused?.() ?? false))],
  ['http.request.tls.proto', (req) => tls(req)?.alpnProtocol || ''],
  ['http.request.tls.proto_mutual', (req) => (tls(req) === undefined ? '' : 'true')],
  ['http.request.tls.server_name', (req) => tls(req)?.servername || ''],
  ['http.request.tls.client.fingerprint', (req) => peerCert(req)?.fingerprint256?.replaceAll(':', '').toLowerCase() ?? ''],
  ['http.request.tls.client.issuer', (req) => distinguishedName(peerCert(req)?.issuer)],
  ['http.request.tls.client.subject', (req) => distinguishedName(peerCert(req)?.subject)],
  [
    'http.request.tls.client.serial',
    (req) => {
      const s = peerCert(req)?.serialNumber;
      return s === undefined || !/^[0-9A-Fa-f]+$/.test(s) ? '' : BigInt(`0x${s}`).toString();
    },
  ],
  ['http.request.tls.client.certificate_der_base64', (req) => peerCert(req)?.raw?.toString('base64') ?? ''],
  [
    'http.request.tls.client.certificate_pem',
    (req) => {
      const b64 = peerCert(req)?.raw?.toString('base64');
      return b64 === undefined ? '' : `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
    },
  ],
  ['http.vars.client_ip', (_req, scope) => scope.clientIp ?? scope.remoteAddress],
  ['http.reverse_proxy.upstream.hostport', (_req, scope) => scope.upstream ?? ''],
  ['http.reverse_proxy.upstream.address', (_req, scope) => scope.upstream ?? ''],
  ['http.reverse_proxy.upstream.host', (_req, scope) => upstreamPart(scope, 'host')],
  ['http.reverse_proxy.upstream.port', (_req, scope) => upstreamPart(scope, 'port')],
  ['system.hostname', () => hostname()],
  ['system.slash', () => path.sep],
  ['system.os', () => process.platform],
  ['system.arch', () => process.arch],
  ['system.wd', () => process.cwd()],
  ['time.now', () => goTime(new Date())],
  ['time.now.http', () => new Date().toUTCString()],
  ['time.now.common_log', () => commonLogTime(new Date())],
  ['time.now.year', () => String(new Date().getUTCFullYear())],
  ['time.now.unix', () => String(Math.floor(Date.now() / 1000))],
  ['time.now.unix_ms', () => String(Date.now())],
]);

/** Values set during the request by matchers and handlers, by full name; '' until set. */
const fromValues: PrefixResolver = () => '';

/** Names with a free last part; `rest` is what follows the prefix. */
const PREFIXES: readonly (readonly [string, PrefixResolver])[] = [
  ['http.request.header.', (rest, req) => header(req, rest)],
  [
    'http.request.cookie.',
    // Several Cookie fields are one list joined by "; " (RFC 9113 §8.2.3), not by ",".
    (rest, req) => {
      const c = req.headers.cookie as string | string[] | undefined;
      return cookie(Array.isArray(c) ? c.join('; ') : (c ?? ''), rest);
    },
  ],
  [
    'http.request.uri.query.',
    // Go's url.Query(): pairs with ';' or a bad escape are dropped; a key's values joined by ','.
    (rest, req, scope) => parseGoQuery(targetQuery(req, scope)).values.get(rest)?.join(',') ?? '',
  ],
  [
    'http.request.host.labels.',
    (rest, req, scope) => {
      if (!/^\d+$/.test(rest)) return undefined;
      // From r.Host as sent: Caddy 2.6.2 answers 'TEST' for {labels.0} of "Other.TEST".
      const labels = hostName(req, scope).split('.');
      return labels[labels.length - 1 - Number(rest)] ?? '';
    },
  ],
  [
    'http.request.uri.path.',
    (rest, req, scope) => {
      if (!/^\d+$/.test(rest)) return undefined;
      const parts = targetPath(req, scope).split('/');
      if (parts[0] === '') parts.shift();
      return parts[Number(rest)] ?? '';
    },
  ],
  [
    'http.vars.',
    (rest, _req, scope) => {
      const v = scope.vars?.get(rest);
      return v == null ? '' : String(v);
    },
  ],
  ['env.', (rest) => process.env[rest] ?? ''],
  ['http.regexp.', fromValues],
  ['http.error.', fromValues],
  ['http.matchers.', fromValues],
  ['http.intercept.', fromValues],
  ['http.reverse_proxy.', fromValues],
  // basic_auth and forward_auth set http.auth.user.*; response values are the handlers' to set.
  ['http.auth.', fromValues],
  ['http.response.', fromValues],
];

function cookie(field: string, name: string): string {
  // Caddy compares cookie names case-insensitively (strings.EqualFold).
  const want = name.toLowerCase();
  for (const pair of field.split(/;\s*/)) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === want) {
      const v = pair.slice(eq + 1).trim();
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
  }
  return '';
}


/** A placeholder's resolver once its name is looked up (per config, not per request). */
type Compiled = (req: PlaceholderRequest, scope: PlaceholderScope) => string | undefined;

const NO_REQUEST: PlaceholderRequest = { headers: {} };
const NO_SCOPE: PlaceholderScope = { scheme: '', remoteAddress: '' };

/**
 * The resolver of a full name my-server knows, without the values matchers and handlers set;
 * undefined for a name it does not know.
 */
function resolverOf(full: string): Resolver | undefined {
  const exact = EXACT.get(full);
  if (exact !== undefined) return exact;
  for (const [prefix, resolve] of PREFIXES) {
    if (!full.startsWith(prefix) || full.length === prefix.length) continue;
    const rest = full.slice(prefix.length);
    // Numbered prefixes know only numbers ({labels.x} is not a name): asked without a request.
    if (resolve(rest, NO_REQUEST, NO_SCOPE) === undefined) return undefined;
    return (req, scope) => resolve(rest, req, scope) ?? '';
  }
  return undefined;
}

/**
 * Caddy's Replacer.Get order: values that matchers and handlers set (`scope.values`, Caddy's
 * repl.Set) win over everything, so a `map` destination or a regexp capture reads as set; then
 * the request's own placeholders. Undefined: a name my-server does not know, not set either.
 */
function compiled(full: string, resolve: Resolver | undefined): Compiled {
  if (resolve === undefined) return (_req, scope) => scope.values?.get(full);
  return (req, scope) => {
    const values = scope.values;
    if (values !== undefined) {
      const set = values.get(full);
      if (set !== undefined) return set;
    }
    return resolve(req, scope);
  };
}

/**
 * Placeholder `name` (as written, short or long) compiled once: the name is made canonical and
 * its resolver found here, so a request pays only for reading its value. The function gives
 * undefined when my-server does not know the name (and nothing set it).
 */
export function compilePlaceholder(name: string): (req: PlaceholderRequest, scope: PlaceholderScope) => string | undefined {
  const full = canonicalName(name);
  return compiled(full, resolverOf(full));
}

/**
 * As compilePlaceholder, but `{vars.NAME}` gives the variable's value as set (a number, a
 * boolean, an object: what CEL and the vars matcher compare), not its text. Caddy's Get returns
 * the raw value too; only ReplaceAll turns it into text.
 */
export function compilePlaceholderValue(name: string): (req: PlaceholderRequest, scope: PlaceholderScope) => unknown {
  const full = canonicalName(name);
  if (full.startsWith('http.vars.') && full.length > 'http.vars.'.length && !EXACT.has(full)) {
    const key = full.slice('http.vars.'.length);
    return (_req, scope) => {
      const set = scope.values?.get(full);
      return set !== undefined ? set : scope.vars?.get(key);
    };
  }
  return compilePlaceholder(name);
}

/** A placeholder value as text, as Caddy's Replacer shows values: '' for none. */
export function placeholderText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return String(value);
}

/**
 * The value of placeholder `name` (as written, short or long) for this request; undefined when
 * my-server does not know the name. Per request: where a name is fixed in the config, use
 * compilePlaceholder once instead.
 */
export function resolvePlaceholder(name: string, req: PlaceholderRequest, scope: PlaceholderScope): string | undefined {
  return compilePlaceholder(name)(req, scope);
}

/**
 * Whether `name` is a placeholder my-server knows, without a request: for `validate`'s warning.
 * `extra` holds names the config itself defines (`map` destinations).
 */
export function isKnownPlaceholder(name: string, extra: ReadonlySet<string> = new Set()): boolean {
  if (extra.has(name)) return true;
  // {args[N]} outside an import, {block} and {blocks.*} of a snippet: Caddyfile syntax, not requests'.
  if (/^args(\[|\.)/.test(name) || name === 'block' || name.startsWith('blocks.')) return true;
  return resolverOf(canonicalName(name)) !== undefined;
}

/** A name between braces that could be a placeholder: no spaces, quotes, commas or braces. */
const NAME = /^[A-Za-z_?][^\s{}"'`,;]*$/;
const GROUP = /^\w+$/;

/**
 * Each `{name}` in `text` that has a placeholder's shape, with its offset (of the `{`).
 * `regexpGroups`: the text is a regexp replacement (uri path_regexp, header's find/replace), where
 * `${1}` and `${name}` are the regexp's groups.
 */
export function placeholdersIn(text: string, regexpGroups = false): { name: string; offset: number }[] {
  const out: { name: string; offset: number }[] = [];
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) {
    // `\{` is a literal brace.
    if (i > 0 && text[i - 1] === '\\') continue;
    const end = text.indexOf('}', i + 1);
    if (end < 0) break;
    const name = text.slice(i + 1, end);
    // `${1}`, `${name}` in a regexp replacement: a group (Go's Expand takes [A-Za-z0-9_]+ there),
    // not a placeholder. Elsewhere, and for any other name (`${htp.request.host}`), it is read
    // as one, as Caddy's replacer reads it. `{$ENV}` is an env reference: NAME never starts with `$`.
    if (regexpGroups && i > 0 && text[i - 1] === '$' && GROUP.test(name)) continue;
    if (NAME.test(name)) out.push({ name, offset: i });
  }
  return out;
}


/** How a template treats a name nobody knows: Caddy's ReplaceKnown keeps it, ReplaceAll empties it. */
export type UnknownPlaceholders = 'keep' | 'empty';

/** A template compiled once: its text with every placeholder resolved for one request. */
export type Template = (req: PlaceholderRequest, scope: PlaceholderScope) => string;

/**
 * Compile `template` once (Caddy's replacer loop, done ahead): `\{` and `\}` are literal braces;
 * an unknown name stays as written (`keep`, Caddy's ReplaceKnown) or becomes '' (`empty`,
 * ReplaceAll). `escape` is applied to each value (never to the template's own text): the file
 * matcher escapes glob characters in it.
 */
export function compileTemplate(template: string, unknown: UnknownPlaceholders = 'keep', escape?: (value: string) => string): Template {
  // `\}` alone (no `{` in the text) is left as written: the common case stays one scan.
  if (!template.includes('{')) return () => template;
  const literals: string[] = [];
  const names: { resolve: Compiled; kept: string }[] = [];
  let text = '';
  let last = 0;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if ((c === '{' || c === '}') && i > 0 && template[i - 1] === '\\') {
      text += template.slice(last, i - 1);
      last = i;
      continue;
    }
    if (c !== '{') continue;
    const end = template.indexOf('}', i + 1);
    if (end < 0) break;
    const name = template.slice(i + 1, end);
    // A name with a `{` is never known: kept, the scan goes on inside it (`{a{host}`).
    if (name.includes('{') && unknown === 'keep') continue;
    literals.push(text + template.slice(last, i));
    text = '';
    // Kept as written, its closing brace unescaped as the scan would (`{a\}` → `{a}`).
    names.push({ resolve: name.includes('{') ? () => undefined : compilePlaceholder(name), kept: name.endsWith('\\') ? `{${name.slice(0, -1)}}` : `{${name}}` });
    i = end;
    last = end + 1;
  }
  const tail = text + template.slice(last);
  if (names.length === 0) return () => tail;
  const keep = unknown === 'keep';
  return (req, scope) => {
    let out = '';
    for (let k = 0; k < names.length; k++) {
      const { resolve, kept } = names[k] as { resolve: Compiled; kept: string };
      const v = resolve(req, scope);
      out += (literals[k] as string) + (v === undefined ? (keep ? kept : '') : escape === undefined ? v : escape(v));
    }
    return out + tail;
  };
}

/** compileTemplate applied once, for a template known only at request time. */
export function expandPlaceholders(template: string, req: PlaceholderRequest, scope: PlaceholderScope, unknown: UnknownPlaceholders = 'keep'): string {
  if (!template.includes('{')) return template;
  const cache = unknown === 'keep' ? KEPT : EMPTIED;
  let compiled = cache.get(template);
  if (compiled === undefined) {
    // Bounded: templates come from the config, but a caller may pass text built per request.
    if (cache.size >= EXPAND_CACHE_LIMIT) cache.clear();
    compiled = compileTemplate(template, unknown);
    cache.set(template, compiled);
  }
  return compiled(req, scope);
}

/**
 * Templates expandPlaceholders compiled, by text: its callers run per request (header_up/down,
 * respond bodies, the route context), and compiling on every call made a site with 20 matchers and
 * 10 header lines cost 16–20% over a plain one instead of 7% (matchers bench).
 */
const KEPT = new Map<string, Template>();
const EMPTIED = new Map<string, Template>();
const EXPAND_CACHE_LIMIT = 1_000;
