/**
 * The typed, readonly configuration a Proxyfile describes. Everything here is plain data (JSON-safe,
 * deep-frozen by the loader): durations are milliseconds, ports are numbers, names are normalised.
 * Runtime modules read it; nothing in it opens sockets or reads certificates.
 */

/** Where a value came from: 1-based line and column in `file` (the name as given or as imported). */
import type { OrderRule } from './directive-order.ts';

export interface Pos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface Config {
  readonly globals: GlobalOptions;
  /** In file order. */
  readonly sites: readonly SiteConfig[];
  /** Absolute paths of every file read (the Proxyfile and its imports), for `run --watch`. */
  readonly files: readonly string[];
}

export type KeyType = 'p256' | 'p384' | 'rsa2048' | 'rsa4096';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type LogOutput =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'stderr' }
  | { readonly kind: 'file'; readonly path: string };

export interface LogConfig {
  readonly output: LogOutput;
  /** Absent: console on a TTY, json otherwise (decided by the logger, not here). */
  readonly format?: 'json' | 'console';
  readonly level: LogLevel;
}

export type StorageConfig =
  /** `path` absent: `$XDG_DATA_HOME/my-server`, or `/var/lib/my-server` as root (decided at runtime). */
  | { readonly kind: 'file'; readonly path?: string }
  | { readonly kind: 'redis'; readonly url: string; readonly prefix: string };

export interface OnDemandTlsConfig {
  /** `GET ask?domain=NAME`; 200 allows issuance (SPEC.md), anything else refuses. Required when any site is on-demand. */
  readonly ask?: string;
  /** At most `burst` issuances per `intervalMs`; both absent means no rate limit. */
  readonly intervalMs?: number;
  readonly burst?: number;
}

export type GlobalOptionName =
  | 'email'
  | 'acme_ca'
  | 'acme_ca_root'
  | 'acme_eab'
  | 'local_certs'
  | 'storage'
  | 'http_port'
  | 'https_port'
  | 'default_bind'
  | 'auto_https'
  | 'admin'
  | 'on_demand_tls'
  | 'key_type'
  | 'cert_lifetime'
  | 'acme_profile'
  | 'grace_period'
  | 'log'
  | 'servers'
  | 'order';

export interface GlobalOptions {
  readonly email?: string;
  readonly acmeCa: string;
  /** PEM file trusted for the ACME server's own HTTPS, as written (relative to the working directory). */
  readonly acmeCaRoot?: string;
  readonly acmeEab?: { readonly keyId: string; readonly macKey: string };
  readonly localCerts: boolean;
  readonly storage: StorageConfig;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** Empty: all interfaces. */
  readonly defaultBind: readonly string[];
  readonly autoHttps: 'on' | 'off' | 'disable_redirects';
  readonly admin: { readonly address: string } | false;
  readonly onDemandTls?: OnDemandTlsConfig;
  readonly keyType: KeyType;
  readonly certLifetimeMs?: number;
  readonly acmeProfile?: string;
  readonly gracePeriodMs: number;
  readonly log: LogConfig;
  /**
   * `servers [ADDR] { … }` blocks in file order; absent or empty: Caddy's defaults everywhere.
   * The block for a listener is the one whose port is the listener's, else the one without ADDR
   * (app side: util/ip-ranges.ts and http/request-handler.ts).
   */
  readonly servers?: readonly ServerOptions[];
  /** `order` rules in the order written (config/directive-order.ts applies them). */
  readonly order?: readonly OrderRule[];
  /** Where each option that appears in the file was set. */
  readonly sources: { readonly [K in GlobalOptionName]?: Pos };
}

export type ServerProtocol = 'h1' | 'h2' | 'h2c' | 'h3';

/**
 * One `servers` block (Caddy's server options). Only `trustedProxies`, `trustedProxiesStrict`
 * and `clientIpHeaders` are applied at run time so far; the others are accepted and kept (see
 * docs/configuration.md, "servers").
 */
export interface ServerOptions {
  /** The ADDR as written (`:443`, `host:8443`); absent: every listener without a block of its own. */
  readonly address?: string;
  /** The port of `address`. */
  readonly port?: number;
  /** CIDRs and addresses as written, `private_ranges` expanded (util/ip-ranges.ts PRIVATE_RANGES). */
  readonly trustedProxies: readonly string[];
  readonly trustedProxiesStrict: boolean;
  /** Header names as written, in order. */
  readonly clientIpHeaders: readonly string[];
  readonly protocols: readonly ServerProtocol[];
  readonly timeouts: {
    readonly readBodyMs?: number;
    readonly readHeaderMs?: number;
    readonly writeMs?: number;
    readonly idleMs?: number;
  };
  readonly keepaliveIntervalMs?: number;
  /** Bytes. */
  readonly maxHeaderSize?: number;
  /** `strict_sni_host [on|insecure_off]`; absent: Caddy's default (on only with client auth). */
  readonly strictSniHost?: 'on' | 'insecure_off';
  readonly logCredentials: boolean;
  readonly enableFullDuplex: boolean;
  /** `metrics [{ per_host }]` inside servers (deprecated in Caddy for the global `metrics`). */
  readonly metrics?: { readonly perHost: boolean };
  readonly pos: Pos;
}

export interface SiteConfig {
  /** Position of the first address. */
  readonly pos: Pos;
  readonly addresses: readonly SiteAddress[];
  readonly tls: TlsConfig;
  /**
   * Handlers in execution order, already sorted the way the Caddyfile adapter sorts directives:
   * header, redir, encode, handle/handle_path, respond, reverse_proxy; same-named directives by
   * path specificity (one path matcher, longest first; `/foo` before `/foo*`), then other
   * matchers in file order, then those without a matcher.
   */
  readonly routes: readonly Route[];
  /** Access log for this site; absent: no access log. */
  readonly log?: AccessLogConfig;
}

export interface SiteAddress {
  /** The token as written. */
  readonly original: string;
  /** As written; absent when the address has no `scheme://`. */
  readonly scheme?: 'http' | 'https';
  /** Lowercased, trailing dot removed, IDNs in punycode, IPv6 without brackets; '' for any name. */
  readonly host: string;
  /** As written. */
  readonly port?: number;
  /** The leftmost label is `*`. */
  readonly wildcard: boolean;
  /**
   * How the site is served, with the Caddyfile's rules: the scheme if written; else `http` on
   * `http_port`, `https` on `https_port`, otherwise `https` when there is a host and `http` when not.
   */
  readonly protocol: 'http' | 'https';
  /** The port if written; else `http_port` for `http://` and `https_port` otherwise. */
  readonly listenPort: number;
  readonly pos: Pos;
}

export type Challenge = 'tls-alpn-01' | 'http-01';

export interface TlsConfig {
  /**
   * Who issues the site's certificates; the one field that says so (`tls internal` and
   * `tls { issuer internal }` both give `internal`, `tls EMAIL`, `issuer acme` and `ca URL` give `acme`).
   * auto: ACME for public names, the local CA for local-only ones (adapt.ts, isLocalOnlyName);
   * internal: always the local CA (also what `local_certs` turns `auto` into);
   * manual: `certFile`/`keyFile` managed by the user (reloaded when they change);
   * acme: always ACME. adapt.ts `issuerFor` turns this into the issuer of one name.
   */
  readonly mode: 'auto' | 'internal' | 'manual' | 'acme';
  readonly email?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly onDemand: boolean;
  readonly ca?: string;
  readonly keyType?: KeyType;
  /** Absent: every challenge the server can answer. */
  readonly challenges?: readonly Challenge[];
  /** Position of the `tls` directive, absent when the site has none. */
  readonly pos?: Pos;
}

/**
 * A matcher set (Caddy's MatcherSet): every matcher in it must match. An inline matcher token
 * gives one (`/api/*` is a set with one path matcher; `*` gives none); a named matcher `@name`
 * gives its definition, shared by every directive that names it. Matchers of the same type
 * written on several lines of one definition are merged the way Caddy merges them (config
 * parsing: config/matchers/; run time: routes/matchers/), so a set holds each type once, except
 * `not` and `expression`, which may repeat (each must hold).
 */
export interface MatcherSet {
  readonly matchers: readonly RequestMatcher[];
  /** `@name` for a named matcher. */
  readonly name?: string;
  readonly pos: Pos;
}

/**
 * Path patterns with the Caddyfile's semantics: case-insensitive; exact unless the pattern
 * has a `*`, which matches any run of characters (`/api/*` matches `/api/x`, not `/api`;
 * `/api*` both). Any pattern matching is enough.
 */
export interface PathRequestMatcher {
  readonly type: 'path';
  readonly paths: readonly string[];
}

/** Host names, case-insensitive; a `*` label matches one label (`*.example.com`). Any is enough. */
export interface HostRequestMatcher {
  readonly type: 'host';
  readonly hosts: readonly string[];
}

/** Request methods, upper case; any is enough. */
export interface MethodRequestMatcher {
  readonly type: 'method';
  readonly methods: readonly string[];
}

/** Matches when none of its sets matches (Caddy's MatchNot: NOT (set1 OR set2 …)). */
export interface NotRequestMatcher {
  readonly type: 'not';
  readonly sets: readonly MatcherSet[];
}

export type RequestMatcher = PathRequestMatcher | HostRequestMatcher | MethodRequestMatcher | NotRequestMatcher;

interface RouteBase {
  readonly pos: Pos;
  /** Absent: every request. */
  readonly matcher?: MatcherSet;
  /**
   * Caddy's mutually exclusive groups (handle, rewrite, root, …; config/directive-order.ts):
   * once a route of a group ran, later routes of the same group in the same list are skipped.
   * Set by the sorter for directives that have one; absent: none.
   */
  readonly group?: string;
  /**
   * The directive that made the route, when its kind alone does not say (config/directive-order.ts
   * directiveOf sorts by it): absent means the directive is named as the kind.
   */
  readonly directive?: string;
}

/** `3xx`-style class or an exact code. */
export type StatusMatch = number | '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

/**
 * One header operation. Lists of them (a `header` directive, `header_up`, `header_down`) are in the
 * order to apply them, which is Caddy's (HeaderOps.ApplyTo), not the file's: `-*`, adds, sets and
 * defaults, other deletes, replaces.
 */
export interface HeaderOp {
  /**
   * set replaces, add appends a value, delete removes (`name` may use `*` as prefix/suffix
   * wildcard), default sets only when the field is absent, replace rewrites every value of the
   * field (`*`: of every field) with a regexp.
   */
  readonly op: 'set' | 'add' | 'delete' | 'default' | 'replace';
  readonly name: string;
  /** Present for set, add and default; may contain request placeholders such as `{host}`. */
  readonly value?: string;
  /** replace: the pattern as a JS RegExp source (translated from Go RE2 syntax) and its flags, without `g`. */
  readonly search?: string;
  readonly searchFlags?: string;
  /** replace: the replacement in JS `String.replace` syntax (`$1`, `$<name>`); placeholders expand. */
  readonly replace?: string;
}

/**
 * One upstream of a reverse_proxy. `{scheme:'unix', host:'', port:0, path}` for unix sockets;
 * otherwise how to connect (`https` for `https://` upstreams and whenever the transport uses TLS),
 * host and port, the port defaulted from the written scheme (80, or 443 for `https://`). Port
 * ranges were expanded into one upstream per port.
 */
export interface UpstreamConfig {
  readonly scheme: 'http' | 'https' | 'unix';
  readonly host: string;
  readonly port: number;
  readonly path?: string;
  /** Where the Proxyfile names it; absent for upstreams made in code (tests, `reverse-proxy --to`). */
  readonly pos?: Pos;
}

export type LbPolicy = 'random' | 'round_robin' | 'least_conn' | 'first' | 'ip_hash' | 'uri_hash' | 'header';

export interface LoadBalancingConfig {
  readonly policy: LbPolicy;
  /** The request header hashed by the `header` policy; required for it, ignored by the others. */
  readonly header?: string;
  /** Retries after a failed attempt; 0 = none unless tryDurationMs allows them. */
  readonly retries: number;
  /** How long to keep retrying failed attempts; 0 = no time-based retries. */
  readonly tryDurationMs: number;
  /** Wait between attempts. */
  readonly tryIntervalMs: number;
}

/** Active checks: every `intervalMs`, GET `uri` on each upstream. Off while `uri` is absent. */
export interface ActiveHealthConfig {
  /** Path (and optional query), e.g. "/healthz". */
  readonly uri?: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** The status a healthy upstream answers with. */
  readonly status: StatusMatch;
}

/** Passive checks: a failure is remembered for `failDurationMs`; 0 turns them off. */
export interface PassiveHealthConfig {
  readonly failDurationMs: number;
  /** Failures within the window that make an upstream unhealthy; at least 1. */
  readonly maxFails: number;
  /** Responses with a matching status count as failures (they are still sent to the client). */
  readonly unhealthyStatus: readonly StatusMatch[];
}

/** `transport http { … }`. */
export interface TransportConfig {
  /** Time to establish the connection (TCP and, for TLS upstreams, the handshake). */
  readonly dialTimeoutMs: number;
  /** Time from the request being sent to the response headers arriving; none when absent. */
  readonly responseHeaderTimeoutMs?: number;
  /** Longest silence while reading from the upstream; none when absent. */
  readonly readTimeoutMs?: number;
  /** HTTPS to every upstream: `tls`, any `tls_*` option, or `https://` upstreams. */
  readonly tls: boolean;
  readonly tlsInsecureSkipVerify: boolean;
  /** SNI and the name the upstream's certificate must match; default the upstream host. */
  readonly tlsServerName?: string;
  /** How long an idle pooled connection is kept; 0 means keep-alive off. */
  readonly keepAliveMs: number;
}

/**
 * Everything one reverse_proxy does, with every default applied (config/defaults.ts
 * PROXY_DEFAULTS) and every duration in milliseconds. The one shape of this configuration: the
 * directive's parser builds it, the route carries it, and proxy/ReverseProxy runs on it as it is.
 */
export interface ReverseProxyConfig {
  readonly upstreams: readonly UpstreamConfig[];
  readonly lb: LoadBalancingConfig;
  readonly health: ActiveHealthConfig;
  readonly passive: PassiveHealthConfig;
  /** In the order to apply them (Caddy's; see HeaderOp). */
  readonly headerUp: readonly HeaderOp[];
  readonly headerDown: readonly HeaderOp[];
  /**
   * Caddy's flush_interval; -1: flush after every write. The proxy never buffers a response (each
   * chunk is written as it arrives), so every value is honoured; streaming responses
   * (text/event-stream, or no Content-Length) also get their headers sent at once.
   */
  readonly flushIntervalMs?: number;
  readonly transport: TransportConfig;
}

export interface ReverseProxyRoute extends RouteBase, ReverseProxyConfig {
  readonly kind: 'reverse_proxy';
}

export interface RedirRoute extends RouteBase {
  readonly kind: 'redir';
  /** May contain placeholders such as `{uri}`. */
  readonly to: string;
  readonly status: number;
  /** `redir TO html`: a 200 HTML page that redirects by script and meta refresh, no Location. */
  readonly html?: boolean;
}

export interface RespondRoute extends RouteBase {
  readonly kind: 'respond';
  readonly body: string;
  readonly status: number;
  /** `close`: the connection is closed after the response (HTTP/2: the session, gracefully). */
  readonly close?: boolean;
  /**
   * Inside handle_errors with no status written: the error's status is answered, as Caddy's
   * static response does there.
   */
  readonly statusFromError?: boolean;
}

export interface HeaderRoute extends RouteBase {
  readonly kind: 'header';
  readonly ops: readonly HeaderOp[];
  /** Apply when the response is written (Caddy defers as soon as one op deletes). */
  readonly deferred: boolean;
}

export interface EncodeRoute extends RouteBase {
  readonly kind: 'encode';
  /** In preference order. */
  readonly encodings: readonly ('zstd' | 'gzip')[];
}

/**
 * `handle` and `handle_path`. Consecutive handle routes form one mutually exclusive group: only
 * the first whose matcher matches runs. `stripPrefix` (handle_path) is removed from the start of the
 * request path (case-insensitively) before the nested routes run; the result keeps a leading `/`.
 */
export interface HandleRoute extends RouteBase {
  readonly kind: 'handle';
  /**
   * `handle_errors [CODES…]`: the site's error routes, run only when a handler raised an error
   * (routes/site-router.ts), never in the normal chain. `errorCodes` absent: every error.
   */
  readonly directive?: 'handle_errors';
  readonly errorCodes?: readonly StatusMatch[];
  readonly stripPrefix?: string;
  readonly routes: readonly Route[];
}

/**
 * `route [MATCHER] { … }`: its routes run in the order written (no sorting), and when none of
 * them answers, the request goes on to the routes after the block.
 */
export interface RouteRoute extends RouteBase {
  readonly kind: 'route';
  readonly routes: readonly Route[];
}

/**
 * `rewrite`, `uri` and `method` (Caddy's rewrite handler; `directive` says which wrote it, for the
 * sort: rewrite routes exclude each other, uri and method routes do not). What they change is what
 * every later handler and the upstream see. Fields are applied in this order, as Caddy does.
 */
export interface RewriteRoute extends RouteBase {
  readonly kind: 'rewrite';
  readonly directive?: 'uri' | 'method';
  /** Upper case; may hold placeholders. */
  readonly method?: string;
  /** rewrite TO: `[PATH][?QUERY]`; a part left out stays as it was. May hold placeholders. */
  readonly uri?: string;
  readonly stripPrefix?: string;
  readonly stripSuffix?: string;
  /** uri replace: in the path and in the query; limit 0 = every occurrence. */
  readonly replace?: { readonly find: string; readonly replace: string; readonly limit: number };
  /** uri path_regexp: JS RegExp source and flags (without `g`), replacement in JS syntax. */
  readonly pathRegexp?: { readonly search: string; readonly flags: string; readonly replace: string };
  /** uri query: in the order written. rename takes `value` as the new key. */
  readonly query?: readonly QueryOp[];
}

export interface QueryOp {
  readonly op: 'set' | 'add' | 'delete' | 'rename';
  readonly key: string;
  readonly value?: string;
}

/** `error [MESSAGE] STATUS`: raises an error that the site's handle_errors routes answer. */
export interface ErrorRoute extends RouteBase {
  readonly kind: 'error';
  readonly status: number;
  readonly message: string;
}

/** `abort`: the connection is closed (HTTP/2: the stream reset) without a response. */
export interface AbortRoute extends RouteBase {
  readonly kind: 'abort';
}

/** `request_header`: header operations on the request, before later handlers and the upstream see it. */
export interface RequestHeaderRoute extends RouteBase {
  readonly kind: 'request_header';
  readonly ops: readonly HeaderOp[];
}

/** `request_body { max_size }`: a larger body is refused with 413. */
export interface RequestBodyRoute extends RouteBase {
  readonly kind: 'request_body';
  /** Bytes; absent: no limit. */
  readonly maxSize?: number;
}

/**
 * `vars`, `log_skip`/`skip_log` (the variable `log_skip` = true) and `root` (the variable `root`):
 * request variables for later handlers, matchers and the access log. Values may hold placeholders.
 */
export interface VarsRoute extends RouteBase {
  readonly kind: 'vars';
  readonly directive?: 'log_skip' | 'skip_log' | 'root';
  readonly vars: readonly (readonly [name: string, value: string | boolean])[];
}

/**
 * `map SOURCE DEST… { IN OUT…; default OUT… }`: for each DEST, the first row whose input equals
 * SOURCE's value (or whose regexp matches it) and has an output for it (not `-`) gives the
 * placeholder `{DEST}` its value; otherwise the default.
 */
export interface MapRoute extends RouteBase {
  readonly kind: 'map';
  readonly source: string;
  readonly destinations: readonly string[];
  readonly rows: readonly MapRow[];
  readonly defaults: readonly (string | undefined)[];
}

export interface MapRow {
  /** Exact input, or a regexp (JS source) when `regexp` is set. */
  readonly input: string;
  readonly regexp?: { readonly source: string; readonly flags: string };
  /** One per destination; undefined: `-`, no value from this row. */
  readonly outputs: readonly (string | undefined)[];
}

/** `metrics`: the Prometheus text of the process's metrics. */
export interface MetricsRoute extends RouteBase {
  readonly kind: 'metrics';
  readonly disableOpenMetrics: boolean;
}

/**
 * `copy_response [STATUS]` inside a reverse_proxy's handle_response: writes the upstream's
 * response (with STATUS if given). Parsed only; the proxy hook that runs it is to come.
 */
export interface CopyResponseRoute extends RouteBase {
  readonly kind: 'copy_response';
  readonly status?: number;
}

/** `copy_response_headers { include … | exclude … }` inside handle_response: parsed only, as copy_response. */
export interface CopyResponseHeadersRoute extends RouteBase {
  readonly kind: 'copy_response_headers';
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

export type Route =
  | CopyResponseRoute
  | CopyResponseHeadersRoute
  | ReverseProxyRoute
  | RedirRoute
  | RespondRoute
  | HeaderRoute
  | EncodeRoute
  | HandleRoute
  | RouteRoute
  | RewriteRoute
  | ErrorRoute
  | AbortRoute
  | RequestHeaderRoute
  | RequestBodyRoute
  | VarsRoute
  | MapRoute
  | MetricsRoute;

export interface AccessLogConfig {
  readonly output: LogOutput;
  readonly format?: 'json' | 'console';
  readonly level: LogLevel;
  readonly pos: Pos;
}
