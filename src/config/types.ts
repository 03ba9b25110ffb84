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
  /**
   * Problems that do not stop the config from loading (an unknown placeholder), as
   * `FILE:LINE:COL` issues: `validate` prints them, `run` logs them. Absent: none.
   */
  readonly warnings?: readonly ConfigWarning[];
}

/** A warning at a 1-based line and column (config/validate.ts placeholderWarnings). */
export interface ConfigWarning extends Pos {
  readonly message: string;
}

export type KeyType = 'p256' | 'p384' | 'rsa2048' | 'rsa4096';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type LogOutput =
  | { readonly kind: 'stdout' }
  | { readonly kind: 'stderr' }
  | { readonly kind: 'discard' }
  | { readonly kind: 'file'; readonly path: string; readonly roll?: LogRoll; readonly mode?: number };

/**
 * `output file PATH { roll_* }`. Absent on the output: Caddy's defaults (rolled at 100 MiB, 10
 * files kept for 90 days, gzip-compressed, UTC names); src/log.ts rolls with rotating-file-stream.
 */
export interface LogRoll {
  /** false: `roll_disabled`. */
  readonly enabled: boolean;
  /** `roll_size`, in bytes: whole MiB as Caddy rounds it up. */
  readonly sizeBytes: number;
  readonly keep: number;
  readonly keepDays: number;
  readonly localTime: boolean;
  readonly compress: boolean;
}

/**
 * `format`: json, console, or an encoder that changes each entry before the one it wraps encodes
 * it (Caddy's `filter` and `append`). `wrap` absent: console on a TTY, json otherwise.
 */
export type LogFormat =
  | 'json'
  | 'console'
  | { readonly kind: 'filter'; readonly wrap?: LogFormat; readonly fields: readonly LogFieldFilter[] }
  | { readonly kind: 'append'; readonly wrap?: LogFormat; readonly fields: readonly LogAppendField[] };

/** A `format filter` line: FIELD (nested with `>`, as request>headers>Cookie) and its filter. */
export type LogFieldFilter = { readonly field: string } & (
  | { readonly filter: 'delete' | 'hash' }
  | { readonly filter: 'rename'; readonly name: string }
  | { readonly filter: 'replace'; readonly value: string }
  /** Prefix bits kept; absent: the address is masked entirely. */
  | { readonly filter: 'ip_mask'; readonly ipv4?: number; readonly ipv6?: number }
  | { readonly filter: 'query' | 'cookie'; readonly actions: readonly LogValueAction[] }
  /** `pattern`: a JavaScript RegExp source (checked at parse); `replacement` in JavaScript's `$1`/`$<name>` form. */
  | { readonly filter: 'regexp'; readonly pattern: string; readonly flags?: string; readonly replacement: string }
);

/** A `query { … }` or `cookie { … }` action on the query key or cookie `name`. */
export type LogValueAction =
  | { readonly type: 'delete' | 'hash'; readonly name: string }
  | { readonly type: 'replace'; readonly name: string; readonly value: string };

/** A `format append` field; a string that is one `{env.VAR}`/`{system.hostname}` is read when written. */
export interface LogAppendField {
  readonly name: string;
  readonly value: string | number | boolean;
}

export interface LogConfig {
  readonly output: LogOutput;
  /** Absent: console on a TTY, json otherwise (decided by the logger, not here). */
  readonly format?: LogFormat;
  readonly level: LogLevel;
  /** Logger-name namespaces this logger takes (`include`), or leaves out (`exclude`); absent: all. */
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

/** A `log NAME { … }` global option other than `default`. */
export interface NamedLogConfig extends LogConfig {
  readonly name: string;
}

export type StorageConfig =
  /** `path` absent: `$XDG_DATA_HOME/my-server`, or `/var/lib/my-server` as root (decided at runtime). */
  | { readonly kind: 'file'; readonly path?: string }
  | {
      readonly kind: 'redis';
      readonly url: string;
      readonly prefix: string;
      /** `lock_lease D`: a lock's time to live without a refresh (default 20 s). */
      readonly lockLeaseMs?: number;
      /** `timeout D`: the longest a connection or a command waits (default 5 s). */
      readonly timeoutMs?: number;
      /** `tls_server_certs_path FILE`: PEM of the CAs trusted for a rediss:// server. */
      readonly tlsServerCertsPath?: string;
    };

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
  | 'acme_dns'
  | 'key_type'
  | 'cert_lifetime'
  | 'acme_profile'
  | 'grace_period'
  | 'log'
  | 'servers'
  | 'order'
  | 'debug'
  | 'default_sni'
  | 'fallback_sni'
  | 'shutdown_delay'
  | 'metrics'
  | 'cert_issuer'
  | 'preferred_chains'
  | 'persist_config'
  | 'ocsp_stapling'
  | 'ocsp_interval'
  | 'renew_interval'
  | 'storage_clean_interval'
  | 'skip_install_trust'
  | 'workers';

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
  /** `acme_dns PROVIDER …`: the DNS provider of every ACME site without `tls { dns … }` of its own. */
  readonly acmeDns?: DnsProviderConfig;
  readonly keyType: KeyType;
  readonly certLifetimeMs?: number;
  readonly acmeProfile?: string;
  readonly gracePeriodMs: number;
  /** `shutdown_delay D`: on stop, serve normally this long before the grace period starts (Caddy's). */
  readonly shutdownDelayMs?: number;
  /** `metrics { per_certificate_limit N }`: most names with per-certificate series of their own (default 100; the rest aggregated). */
  readonly metrics?: { readonly perCertificateLimit?: number };
  /** `workers N|auto`: processes serving the same ports (cluster/); absent or 1: this process alone. */
  readonly workers?: number | 'auto';
  /** `default_sni NAME`: whose certificate a client sending no SNI gets, after one loaded for the local address. */
  readonly defaultSni?: string;
  /** `fallback_sni NAME`: whose certificate a client gets when its SNI names no certificate we have or can get. */
  readonly fallbackSni?: string;
  /** `auto_https disable_certs`: nothing is obtained automatically; redirects stay (`autoHttps` says). */
  readonly disableCerts?: boolean;
  /** `cert_issuer acme { disable_*_challenge }`: the challenges of ACME issuers whose site sets none. */
  readonly challenges?: readonly Challenge[];
  /** `preferred_chains`, or the one of `cert_issuer acme { … }`. */
  readonly preferredChains?: PreferredChains;
  readonly log: LogConfig;
  /** `log NAME { … }` global options other than `default`, in file order. */
  readonly loggers?: readonly NamedLogConfig[];
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
  /** Where `protocols` names h3 (not served: no QUIC in Node.js; a warning names it). */
  readonly h3Pos?: Pos;
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

export type Challenge = 'tls-alpn-01' | 'http-01' | 'dns-01';

/**
 * A DNS provider for DNS-01, named as Caddy's modules are (config/directives/dns.ts parses them).
 * Secret fields hold the text as written: `{env.VAR}` is resolved when the provider is made
 * (src/dns/providers.ts), so the config never holds it, and no log line prints a provider config.
 */
export type DnsProviderConfig =
  | { readonly provider: 'rfc2136'; readonly server: string; readonly keyName: string; readonly keyAlg: 'hmac-sha256' | 'hmac-sha512'; readonly key: string; readonly pos: Pos }
  | { readonly provider: 'exec'; readonly program: string; readonly args: readonly string[]; readonly pos: Pos }
  | { readonly provider: 'acmedns'; readonly serverUrl: string; readonly username: string; readonly password: string; readonly subdomain: string; readonly pos: Pos }
  | { readonly provider: 'cloudflare'; readonly apiToken: string; readonly zoneToken?: string; readonly pos: Pos };

/** A site's DNS-01 settings (`tls { dns …; propagation_delay D; propagation_timeout D; resolvers …; dns_ttl D }`). */
export interface DnsChallengeConfig {
  /** Absent: the global `acme_dns` provider. */
  readonly provider?: DnsProviderConfig;
  readonly propagationDelayMs?: number;
  /** -1 skips the propagation check. */
  readonly propagationTimeoutMs?: number;
  /** `IP` or `IP:PORT`, as written. */
  readonly resolvers?: readonly string[];
  readonly ttlSeconds?: number;
}

/**
 * Caddy's `preferred_chains`: the chain to download when the CA offers alternates (RFC 8555
 * §7.4.2). Only the first `root_common_name` is applied so far (acme/flow.ts chooses by one root
 * name); the other forms are accepted and kept (docs/configuration.md).
 */
export type PreferredChains =
  | { readonly kind: 'smallest' }
  | { readonly kind: 'root_common_name'; readonly names: readonly string[] }
  | { readonly kind: 'any_common_name'; readonly names: readonly string[] };

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
  /** `issuer acme { profile }`: the ACME profile of this site's orders (else `acme_profile`). */
  readonly profile?: string;
  /** `issuer acme { eab KEY_ID MAC_KEY }`: this site's account binding (else `acme_eab`). */
  readonly eab?: { readonly keyId: string; readonly macKey: string };
  /** `issuer acme { preferred_chains … }` (else the global one). */
  readonly preferredChains?: PreferredChains;
  readonly keyType?: KeyType;
  /** Absent: every challenge the server can answer. */
  readonly challenges?: readonly Challenge[];
  /** DNS-01 settings; with a provider here or in `acme_dns`, DNS-01 is the site's challenge. */
  readonly dns?: DnsChallengeConfig;
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

/**
 * A regular expression on the cleaned path (Caddy's path_regexp). Captures become `{re.NAME.N}`
 * and `{re.NAME.capname}` (and `{re.N}`); NAME defaults to the matcher set's name.
 */
export interface PathRegexpRequestMatcher {
  readonly type: 'path_regexp';
  readonly name: string;
  /** Translated to JavaScript syntax (config/matchers/regexp.ts); `flags` holds a leading `(?i)`. */
  readonly pattern: string;
  readonly flags: string;
}

/**
 * Header fields (Caddy's MatchHeader): every field must match. `values` null: the field must be
 * absent (`!Name`); otherwise any value of the field matching any listed value is enough, with
 * `*` alone for presence and `*` at either end for suffix/prefix/substring. Field names are
 * case-insensitive; `Host` is the request's host.
 */
export interface HeaderRequestMatcher {
  readonly type: 'header';
  readonly fields: readonly { readonly name: string; readonly values: readonly string[] | null }[];
}

/** A regular expression per header field; every field must have a matching value. */
export interface HeaderRegexpRequestMatcher {
  readonly type: 'header_regexp';
  readonly fields: readonly { readonly field: string; readonly name: string; readonly pattern: string; readonly flags: string }[];
}

/**
 * Query parameters (Caddy's MatchQuery): every key must be present with one of its values (`*`:
 * any). No keys: matches only a request without query parameters. A query string Go's
 * url.ParseQuery refuses (a `;`, a bad escape) matches nothing.
 */
export interface QueryRequestMatcher {
  readonly type: 'query';
  readonly params: readonly { readonly key: string; readonly values: readonly string[] }[];
}

/** http, https, grpc, http/1.0, http/1.1, http/2, http/3, and `+` for "at least" (http/2+). */
export interface ProtocolRequestMatcher {
  readonly type: 'protocol';
  readonly protocol: string;
}

/**
 * Addresses and CIDRs (`private_ranges` already expanded). remote_ip looks at the peer (with
 * `forwarded`, Caddy 2.6's first X-Forwarded-For address, which the client controls);
 * client_ip at {client_ip}, after `trusted_proxies`.
 */
export interface RemoteIpRequestMatcher {
  readonly type: 'remote_ip';
  readonly ranges: readonly string[];
  readonly forwarded: boolean;
}

export interface ClientIpRequestMatcher {
  readonly type: 'client_ip';
  readonly ranges: readonly string[];
}

/**
 * Request variables (Caddy's VarsMatcher): a key in braces (`{http.request.uri}`) is a
 * placeholder, otherwise a `vars` name. Matches when ANY key has one of its values (Caddy ORs
 * the keys); values may hold placeholders.
 */
export interface VarsRequestMatcher {
  readonly type: 'vars';
  readonly vars: readonly { readonly key: string; readonly values: readonly string[] }[];
}

/** A regular expression per variable or placeholder; any key matching is enough, as in Caddy. */
export interface VarsRegexpRequestMatcher {
  readonly type: 'vars_regexp';
  readonly vars: readonly { readonly key: string; readonly name: string; readonly pattern: string; readonly flags: string }[];
}

/**
 * Files on disk (Caddy's MatchFile). `root` absent: the `root` variable, else the working
 * directory; `tryFiles` absent: the request path. Sets `{file_match.relative|absolute|type|remainder}`.
 */
export interface FileRequestMatcher {
  readonly type: 'file';
  readonly root?: string;
  readonly tryFiles?: readonly string[];
  /** first_exist_fallback: Caddy 2.8+, the last entry taken without a stat. */
  readonly tryPolicy: 'first_exist' | 'first_exist_fallback' | 'smallest_size' | 'largest_size' | 'most_recently_modified';
  readonly splitPath: readonly string[];
}

/**
 * A CEL expression (Caddy's MatchExpression), checked when the config loads. `expr` is as written;
 * `name` (the set's name) names the captures of path_regexp() and friends inside it.
 */
export interface ExpressionRequestMatcher {
  readonly type: 'expression';
  readonly expr: string;
  readonly name: string;
}

export type RequestMatcher =
  | PathRequestMatcher
  | HostRequestMatcher
  | MethodRequestMatcher
  | NotRequestMatcher
  | PathRegexpRequestMatcher
  | HeaderRequestMatcher
  | HeaderRegexpRequestMatcher
  | QueryRequestMatcher
  | ProtocolRequestMatcher
  | RemoteIpRequestMatcher
  | ClientIpRequestMatcher
  | VarsRequestMatcher
  | VarsRegexpRequestMatcher
  | FileRequestMatcher
  | ExpressionRequestMatcher;

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

export type LbPolicy =
  | 'random'
  | 'round_robin'
  | 'least_conn'
  | 'first'
  | 'ip_hash'
  | 'client_ip_hash'
  | 'uri_hash'
  | 'header'
  | 'query'
  | 'cookie'
  | 'random_choose'
  | 'weighted_round_robin';

/** `lb_policy cookie [NAME [SECRET]] { max_age D }`: Caddy's sticky-session cookie. */
export interface LbCookieConfig {
  /** Caddy's default: `lb`. */
  readonly name: string;
  /** HMAC-SHA256 key of the cookie's value (the upstream's address); may be empty, as in Caddy. */
  readonly secret: string;
  /** The cookie's Max-Age; absent: a session cookie. */
  readonly maxAgeMs?: number;
}

export interface LoadBalancingConfig {
  readonly policy: LbPolicy;
  /** The request header hashed by the `header` policy; required for it, ignored by the others. */
  readonly header?: string;
  /** The query key hashed by the `query` policy. */
  readonly queryKey?: string;
  readonly cookie?: LbCookieConfig;
  /** `random_choose N`: upstreams sampled, the least loaded of them chosen; at least 2. */
  readonly choose?: number;
  /** `weighted_round_robin W...`: one weight per upstream, in the upstreams' order. */
  readonly weights?: readonly number[];
  /** `header`, `query`, `cookie`: the policy when the key is absent (`{ fallback P }`); default random. */
  readonly fallback?: LbPolicy;
  /** Retries after a failed attempt; 0 = none unless tryDurationMs allows them. */
  readonly retries: number;
  /** How long to keep retrying failed attempts; 0 = no time-based retries. */
  readonly tryDurationMs: number;
  /** Wait between attempts. */
  readonly tryIntervalMs: number;
}

/**
 * Active checks: every `intervalMs`, a request for `uri` to each upstream. On when `uri` or
 * `port` is set (Caddy's IsEnabled), off otherwise.
 */
export interface ActiveHealthConfig {
  /** Path (and optional query), e.g. "/healthz". */
  readonly uri?: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** The status a healthy upstream answers with. */
  readonly status: StatusMatch;
  /** `health_port`: checks go to this port of each upstream's host instead of its own port. */
  readonly port?: number;
  /** `health_method`; absent: GET. */
  readonly method?: string;
  /** `health_headers { Field value... }`, field names as written; `Host` sets the request's Host. */
  readonly headers?: Readonly<Record<string, readonly string[]>>;
  /** `health_body`: a healthy upstream's body matches this regexp (Go RE2, as a JS source and flags). */
  readonly body?: { readonly source: string; readonly flags: string };
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
  /**
   * `versions`: the HTTP versions offered to upstreams. `h2c` speaks HTTP/2 without TLS (prior
   * knowledge) to plain upstreams; `2` offers h2 by ALPN to TLS upstreams. Absent: HTTP/1.1 only.
   */
  readonly versions?: readonly TransportVersion[];
  /** `max_conns_per_host`: connections per upstream, further requests wait; absent: no limit (Caddy's default). */
  readonly maxConnsPerHost?: number;
  /**
   * `keepalive_idle_conns`: accepted for Caddyfile compatibility, not enforced: undici keeps idle
   * connections until `keepalive` expires them (docs/configuration.md says so).
   */
  readonly keepAliveIdleConns?: number;
  /**
   * `compression off`: never ask the upstream for gzip on the client's behalf. my-server never
   * does (it passes the client's Accept-Encoding as it is), so only `off` is accepted.
   */
  readonly compression?: false;
}

export type TransportVersion = '1.1' | '2' | 'h2c';

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
  /**
   * `request_buffers` / `response_buffers`: bytes of the body read into memory before it is sent
   * on (-1: `unlimited`). A request body that ends within the buffer goes upstream with its
   * Content-Length, as in Caddy. Absent: streamed as it comes.
   */
  readonly requestBuffers?: number;
  readonly responseBuffers?: number;
  /** `stream_timeout`: upgraded connections (WebSockets) are closed this long after the upgrade. */
  readonly streamTimeoutMs?: number;
  /**
   * `stream_close_delay`: when the config is unloaded (after a reload's grace period), upgraded
   * connections and streaming responses still in flight are closed only after this delay.
   * Absent: WebSockets outlive the reload and are never closed by it (my-server's behaviour before
   * this option; Caddy closes them at once).
   */
  readonly streamCloseDelayMs?: number;
  /**
   * `trusted_proxies CIDR...|private_ranges`: peers in these ranges are trusted by this proxy, as
   * well as those the listener's `servers { trusted_proxies }` trusts (Caddy ≥ 2.7 takes either):
   * their X-Forwarded-For is appended to and their X-Forwarded-Proto/-Host kept.
   */
  readonly trustedProxies?: readonly string[];
  /**
   * `replace_status` and `handle_response` lines, in the order written: the first whose matcher
   * takes the upstream's response head applies (Caddy's HandleResponse). Absent: none.
   */
  readonly handleResponse?: readonly ResponseHandler[];
  /**
   * `method M` / `rewrite URI` (Caddy's Handler.Rewrite): the upstream request only gets this
   * method and target; the request later handlers see is untouched. URI may hold placeholders; its
   * empty path or absent query keeps the request's. A GET or HEAD rewrite sends no body.
   */
  readonly rewrite?: { readonly method?: string; readonly uri?: string };
}

/** Caddy's ResponseMatcher: every status listed (any one), every header given (all of them). */
export interface ResponseMatcher {
  readonly status?: readonly StatusMatch[];
  /** FIELD with no values: present; with values: one of them (Caddy's header matcher, `*` globs). */
  readonly headers?: readonly { readonly name: string; readonly values: readonly string[] }[];
}

/**
 * One response handler of a reverse_proxy: `statusReplace` (replace_status: the response is
 * relayed with that status) or `routes` (handle_response: they run instead of the relay). `R` is
 * RouteDraft while parsing (config/draft.ts), Route once adapt.ts has sorted them.
 */
export interface ResponseHandler<R = Route> {
  readonly matcher?: ResponseMatcher;
  readonly statusReplace?: number | string;
  readonly routes?: readonly R[];
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
  /** A placeholder status (`{err.status_code}`), expanded per request; `status` when it is no status. */
  readonly statusTemplate?: string;
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
 * `file_server`: static files under `root` (placeholders allowed; absent: the `root` request
 * variable, else the working directory). See files/serve.ts for the HTTP semantics.
 */
export interface FileServerRoute extends RouteBase {
  readonly kind: 'file_server';
  readonly root?: string;
  /** Caddy's hide patterns (files/locate.ts compileHide). */
  readonly hide: readonly string[];
  readonly index: readonly string[];
  readonly browse: boolean;
  /** `browse { sort; file_limit; reveal_symlinks }` (Caddy 2.8's block; files/browse.ts). */
  readonly browseOptions?: BrowseOptions;
  /** Sidecar encodings to look for, in preference order; empty: none. */
  readonly precompressed: readonly ('br' | 'zstd' | 'gzip')[];
  readonly status?: number;
  readonly canonicalUris: boolean;
  /** A request with no file goes on to the next handler instead of a 404. */
  readonly passThru: boolean;
}

/** How a directory listing is built: Caddy's sort keys and order, a cap on entries, link targets shown. */
export interface BrowseOptions {
  readonly sort: 'name' | 'namedirfirst' | 'size' | 'time';
  readonly order: 'asc' | 'desc';
  /** At most this many directory entries are read (directory order, before sorting). */
  readonly fileLimit?: number;
  readonly revealSymlinks: boolean;
}

/**
 * `php_fastcgi` (Caddy's fastcgi/caddyfile.go expansion, run as one handler by
 * routes/handlers/php-fastcgi.ts): the `/` redirect, try_files, the split on `.php` and the CGI
 * environment, then FastCGI to one of `upstreams` (fastcgi/client.ts). Durations in milliseconds.
 */
export interface PhpFastcgiRoute extends RouteBase {
  readonly kind: 'php_fastcgi';
  /** tcp (`host:port`) or unix (`unix//path`) FastCGI servers. */
  readonly upstreams: readonly UpstreamConfig[];
  /** Placeholders allowed; absent: the `root` request variable, else the working directory. */
  readonly root?: string;
  /** Substrings that end the script name; what follows is PATH_INFO. */
  readonly split: readonly string[];
  /** The directory index script; false (`index off`): no redirect and no try_files rewrite. */
  readonly index: string | false;
  /** Written try_files; empty: Caddy's default `{path} {path}/INDEX INDEX`. */
  readonly tryFiles: readonly string[];
  /** Extra environment, values with placeholders; these win over the computed ones. */
  readonly env: readonly (readonly [string, string])[];
  readonly resolveRootSymlink: boolean;
  readonly dialTimeoutMs: number;
  /** 0: none. */
  readonly readTimeoutMs: number;
  /** 0: none. */
  readonly writeTimeoutMs: number;
  /** Log what the script writes to stderr. */
  readonly captureStderr: boolean;
  /** Which upstream a request tries first (the others are tried in turn when one is unreachable). */
  readonly lbPolicy: 'round_robin' | 'first' | 'random';
}

/** `basic_auth` / `basicauth`: HTTP Basic authentication against the listed users (auth/passwords.ts). */
export interface BasicAuthRoute extends RouteBase {
  readonly kind: 'basic_auth';
  readonly realm: string;
  readonly users: readonly { readonly name: string; readonly algorithm: 'bcrypt' | 'argon2id'; readonly hash: string }[];
}

/**
 * `rewrite`, `uri` and `method` (Caddy's rewrite handler; `directive` says which wrote it, for the
 * sort: rewrite routes exclude each other, uri and method routes do not). What they change is what
 * every later handler and the upstream see. Fields are applied in this order, as Caddy does.
 */
export interface RewriteRoute extends RouteBase {
  readonly kind: 'rewrite';
  /** try_files is a rewrite behind a file matcher (config/directives/try-files.ts). */
  readonly directive?: 'uri' | 'method' | 'try_files';
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
 * response (with STATUS if given), header_down applied.
 */
export interface CopyResponseRoute extends RouteBase {
  readonly kind: 'copy_response';
  readonly status?: number;
}

/** `copy_response_headers { include … | exclude … }` inside handle_response: the upstream's headers onto the response. */
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
  | FileServerRoute
  | BasicAuthRoute
  | RewriteRoute
  | ErrorRoute
  | AbortRoute
  | RequestHeaderRoute
  | RequestBodyRoute
  | VarsRoute
  | MapRoute
  | MetricsRoute
  | PhpFastcgiRoute;

export interface AccessLogConfig {
  readonly output: LogOutput;
  readonly format?: LogFormat;
  readonly level: LogLevel;
  readonly pos: Pos;
  /** `log NAME`: entries are logged as http.log.access.NAME; absent: log0, log1… in site order. */
  readonly name?: string;
  /**
   * The site's `log` sets no output, format or level: its entries go to the process's loggers
   * (the `log` global options: `default` unless it excludes them, and any that include them), as Caddy's do.
   */
  readonly shared?: boolean;
}
