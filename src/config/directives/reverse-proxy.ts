/**
 * The `reverse_proxy` directive:
 *
 *     reverse_proxy [MATCHER] [UPSTREAM...] {
 *         to UPSTREAM...
 *         lb_policy random|round_robin|least_conn|first|ip_hash|client_ip_hash|uri_hash
 *                   |header NAME|query KEY|cookie [NAME [SECRET]]|random_choose N
 *                   |weighted_round_robin W... [{ fallback POLICY; max_age D }]
 *         lb_retries N
 *         lb_try_duration D
 *         lb_try_interval D
 *         health_uri PATH
 *         health_interval D
 *         health_timeout D
 *         health_status CODE|2xx
 *         health_port PORT
 *         health_method METHOD
 *         health_headers { FIELD [VALUE...] }
 *         health_body REGEXP
 *         fail_duration D
 *         max_fails N
 *         unhealthy_status CODE|5xx...
 *         trusted_proxies CIDR...|private_ranges
 *         method METHOD                    (the upstream request's only)
 *         rewrite URI                      (the upstream request's only)
 *         header_up [+|-|>]NAME [VALUE|SEARCH] [REPLACE]
 *         header_down [+|-|>]NAME [VALUE|SEARCH] [REPLACE]
 *         flush_interval D|-1
 *         request_buffers SIZE|unlimited
 *         response_buffers SIZE|unlimited
 *         stream_timeout D
 *         stream_close_delay D
 *         @NAME …; replace_status …; handle_response … { … }   (handle-response.ts)
 *         transport http {
 *             dial_timeout D
 *             response_header_timeout D
 *             read_timeout D
 *             tls
 *             tls_insecure_skip_verify
 *             tls_server_name NAME
 *             keepalive D|off
 *             versions 1.1|2|h2c...
 *             compression off
 *             max_conns_per_host N
 *             keepalive_idle_conns N
 *         }
 *     }
 *
 * header_up/header_down may repeat; everything else appears once. Upstreams share one scheme:
 * `https://` upstreams (or any tls option) make the transport HTTPS, which written `http://`
 * upstreams contradict.
 *
 * The parser starts from PROXY_DEFAULTS and writes each subdirective into the final shape
 * (ReverseProxyRoute): a new subdirective is a field in config/types.ts, a default in
 * config/defaults.ts if it has one, an entry below, and the proxy code that reads it.
 */
import { parseCidr, PRIVATE_RANGES } from '../cidr.ts';
import { reverseProxyDefaults } from '../defaults.ts';
import { configError, posOf } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { ReverseProxyDraft } from '../draft.ts';
import type { ReverseProxyConfig, UpstreamConfig } from '../types.ts';
import { durationArg, headerNameArg, intArg, parseDuration, portArg, statusMatchArg } from '../values.ts';
import { unknownSub } from './global-options.ts';
import { goRegexp } from '../matchers/regexp.ts';
import { argsOf, headerOpLine, noBlock, Once, oneArg, splitMatcher } from './helpers.ts';
import { applicationOrder } from './simple.ts';
import { lbPolicy, validateLb } from './lb-policy.ts';
import { parseTransport } from './proxy-transport.ts';
import { parseResponseHandling, responseHandlers, RESPONSE_SUBDIRECTIVES } from './handle-response.ts';
import type { RouteParseContext } from './site.ts';
import { parseUpstream } from './upstream.ts';

/**
 * A ReverseProxyConfig being filled in by the subdirectives: the same shape, writable (lists and
 * nested objects too), so a new field needs no second declaration here.
 */
type Builder = Writable<Omit<ReverseProxyConfig, 'handleResponse'>>;
type Writable<T> = {
  -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? E[] : T[K] extends object ? Writable<T[K]> : T[K];
};

export function parseReverseProxy(node: Node, ctx: RouteParseContext): ReverseProxyDraft {
  const { matcher, args } = splitMatcher(node);
  // A fresh copy of the defaults, so the deep-frozen config never shares PROXY_DEFAULTS' objects.
  const b = reverseProxyDefaults([]) as Builder;
  const ups = new UpstreamList();
  for (const tok of args) ups.add(tok);

  const once = new Once();
  for (const sub of node.block ?? []) {
    const name = sub.name.text;
    // Response matchers, handle_response and replace_status: parseResponseHandling's, below.
    if (name.startsWith('@') || RESPONSE_SUBDIRECTIVES.has(name)) continue;
    if (!REPEATABLE.has(name)) once.check(sub);
    if (!WITH_BLOCK.has(name)) noBlock(sub);
    if (name === 'to') {
      for (const tok of argsOf(sub, 1, Infinity, 'to UPSTREAM...')) ups.add(tok);
      continue;
    }
    const parser = SUBDIRECTIVES[name];
    if (parser === undefined) throw unknownSub(sub, 'reverse_proxy');
    parser(sub, b);
  }
  if (ups.upstreams.length === 0) {
    throw configError(node.name, 'reverse_proxy: missing upstream (usage: reverse_proxy [MATCHER] UPSTREAM... or a "to UPSTREAM..." line in its block)');
  }
  b.upstreams = ups.upstreams;

  b.headerUp = applicationOrder(b.headerUp);
  b.headerDown = applicationOrder(b.headerDown);
  if (ups.scheme === 'https') b.transport.tls = true;
  if (b.transport.tls && (ups.explicitHttp ?? ups.h2c) !== undefined) {
    const at = (ups.explicitHttp ?? ups.h2c) as Token;
    throw configError(at, `reverse_proxy: upstream is ${at === ups.h2c ? 'h2c' : 'http'}:// but the transport uses TLS`);
  }
  // Caddy: h2c:// upstreams set the transport's versions to "h2c 2".
  if (ups.h2c !== undefined) b.transport.versions = ['h2c', '2'];
  if (b.transport.tls && b.transport.versions?.length === 1 && b.transport.versions[0] === 'h2c') {
    throw configError(node.name, 'reverse_proxy: transport versions h2c (HTTP/2 without TLS) but the transport uses TLS; add 2 or 1.1');
  }
  validateLb(b, node);
  if (b.transport.tls) {
    // The upstream's scheme says how to connect, so a TLS transport makes host:port upstreams https.
    b.upstreams = b.upstreams.map((u) => (u.scheme === 'http' ? { ...u, scheme: 'https' } : u));
  }
  const handlers = responseHandlers(parseResponseHandling(node.block ?? [], ctx));
  return {
    kind: 'reverse_proxy',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    ...b,
    ...(handlers.length > 0 ? { handleResponse: handlers } : {}),
  };
}

/** Subdirectives that may appear more than once (their lines add up). */
const REPEATABLE = new Set(['header_up', 'header_down', 'to', 'trusted_proxies']);
/** Subdirectives that take a block. */
const WITH_BLOCK = new Set(['transport', 'health_headers', 'lb_policy']);

/**
 * The upstreams of the directive's arguments and its `to` lines, in the order written. Caddy's
 * rule: they share one scheme (http, https or h2c), since there is one transport for all. An
 * upstream written without a scheme goes with h2c ones (they all speak h2c, as Caddy's versions
 * apply to the whole transport); Caddy accepts that only when the scheme-less one comes first.
 */
class UpstreamList {
  readonly upstreams: UpstreamConfig[] = [];
  scheme: 'http' | 'https' | 'h2c' | undefined;
  /** The first upstream written as http:// or h2c://, to point at when the transport uses TLS. */
  explicitHttp: Token | undefined;
  h2c: Token | undefined;

  add(tok: Token): void {
    const parsed = parseUpstream(tok);
    if (parsed.explicitHttp) this.explicitHttp ??= tok;
    if (parsed.h2c) this.h2c ??= tok;
    for (const upstream of parsed.upstreams) {
      if (upstream.scheme === 'unix') continue;
      const scheme = parsed.h2c ? 'h2c' : upstream.scheme;
      this.scheme ??= scheme;
      if (scheme === this.scheme) continue;
      const plain = (s: string): boolean => s === 'http' && this.explicitHttp === undefined;
      if (scheme === 'h2c' && plain(this.scheme)) {
        this.scheme = 'h2c';
        continue;
      }
      if (this.scheme === 'h2c' && scheme === 'http' && !parsed.explicitHttp) continue;
      const why = scheme === 'h2c' || this.scheme === 'h2c' ? 'h2c:// cannot be mixed with http:// or https://' : 'http or https';
      throw configError(tok, `reverse_proxy: all upstreams must use the same scheme (${why})`);
    }
    this.upstreams.push(...parsed.upstreams);
  }
}

type SubParser = (sub: Node, b: Builder) => void;


/**
 * A byte size as Caddy reads it (go-humanize ParseBytes): `4096`, `64KB` (1000s), `64KiB`
 * (1024s), `1.5MB`; or `unlimited` (-1). Zero turns buffering off, as absent does.
 */
function bufferSizeArg(tok: Token): number {
  if (tok.text === 'unlimited') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?$/i.exec(tok.text);
  if (m === null) throw configError(tok, `invalid size "${tok.text}": use bytes or a unit, as in 4096, 64KB, 1MiB, or unlimited`);
  const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  const bytes = Math.floor(Number(m[1]) * (m[3] === '' ? 1000 : 1024) ** power);
  if (!Number.isSafeInteger(bytes)) throw configError(tok, `invalid size "${tok.text}": too large`);
  return bytes;
}

/** A duration, or a bare integer of nanoseconds as Caddy's stream_* options read it. */
function nsOrDuration(tok: Token): number {
  if (/^\d+$/.test(tok.text)) return Number(tok.text) / 1e6;
  return durationArg(tok, { allowZero: true });
}

const SUBDIRECTIVES: Readonly<Record<string, SubParser | undefined>> = {
  lb_policy(sub, b) {
    b.lb = { ...b.lb, ...lbPolicy(sub) };
  },
  lb_retries(sub, b) {
    b.lb.retries = intArg(oneArg(sub, 'lb_retries N'), 0, 1000, 'lb_retries');
  },
  lb_try_duration(sub, b) {
    b.lb.tryDurationMs = durationArg(oneArg(sub, 'lb_try_duration D'), { allowZero: true });
  },
  lb_try_interval(sub, b) {
    b.lb.tryIntervalMs = durationArg(oneArg(sub, 'lb_try_interval D'), { allowZero: true });
  },
  health_uri(sub, b) {
    const uri = oneArg(sub, 'health_uri PATH');
    if (!uri.text.startsWith('/')) throw configError(uri, `health_uri "${uri.text}" must start with /`);
    b.health.uri = uri.text;
  },
  health_port(sub, b) {
    b.health.port = portArg(oneArg(sub, 'health_port PORT'));
  },
  health_method(sub, b) {
    const tok = oneArg(sub, 'health_method METHOD');
    // An HTTP method is a token (RFC 9110 §9.1); Go sends it as written.
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(tok.text)) throw configError(tok, `health_method: invalid method "${tok.text}"`);
    b.health.method = tok.text;
  },
  health_headers(sub, b) {
    argsOf(sub, 0, 0, 'health_headers { FIELD [VALUE...] }');
    const headers: Record<string, string[]> = {};
    for (const line of sub.block ?? []) {
      noBlock(line);
      const name = headerNameArg(line.name, line.name.text);
      // Caddy canonicalises the field names, so `host` and `Host` are one field.
      const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
      (headers[key] ??= []).push(...(line.args.length === 0 ? [''] : line.args.map((t) => t.text)));
    }
    b.health.headers = headers;
  },
  health_body(sub, b) {
    b.health.body = goRegexp(oneArg(sub, 'health_body REGEXP'));
  },
  health_interval(sub, b) {
    b.health.intervalMs = durationArg(oneArg(sub, 'health_interval D'));
  },
  health_timeout(sub, b) {
    b.health.timeoutMs = durationArg(oneArg(sub, 'health_timeout D'));
  },
  health_status(sub, b) {
    b.health.status = statusMatchArg(oneArg(sub, 'health_status CODE|2xx'));
  },
  fail_duration(sub, b) {
    b.passive.failDurationMs = durationArg(oneArg(sub, 'fail_duration D'), { allowZero: true });
  },
  max_fails(sub, b) {
    b.passive.maxFails = intArg(oneArg(sub, 'max_fails N'), 1, 1_000_000, 'max_fails');
  },
  unhealthy_status(sub, b) {
    b.passive.unhealthyStatus = argsOf(sub, 1, Infinity, 'unhealthy_status CODE...').map(statusMatchArg);
  },
  header_up(sub, b) {
    b.headerUp.push(headerOpLine(sub, 'header_up [+|-|>]NAME [VALUE|SEARCH] [REPLACE]', false).op);
  },
  header_down(sub, b) {
    b.headerDown.push(headerOpLine(sub, 'header_down [+|-|>]NAME [VALUE|SEARCH] [REPLACE]', false).op);
  },
  flush_interval(sub, b) {
    const tok = oneArg(sub, 'flush_interval D');
    // A bare integer is nanoseconds in the Caddyfile; a negative one means "flush immediately".
    if (/^-?\d+$/.test(tok.text)) {
      const ns = Number(tok.text);
      b.flushIntervalMs = ns < 0 ? -1 : ns / 1e6;
      return;
    }
    const ms = parseDuration(tok.text) ?? durationArg(tok);
    b.flushIntervalMs = ms < 0 ? -1 : ms;
  },
  trusted_proxies(sub, b) {
    const ranges: string[] = [...(b.trustedProxies ?? [])];
    for (const tok of argsOf(sub, 1, Infinity, 'trusted_proxies CIDR...|private_ranges')) {
      if (tok.text === 'private_ranges') {
        ranges.push(...PRIVATE_RANGES);
        continue;
      }
      const c = parseCidr(tok.text);
      if (typeof c === 'string') throw configError(tok, `trusted_proxies: invalid range "${tok.text}": ${c}`);
      ranges.push(tok.text);
    }
    b.trustedProxies = ranges;
  },
  request_buffers(sub, b) {
    b.requestBuffers = bufferSizeArg(oneArg(sub, 'request_buffers SIZE|unlimited'));
  },
  response_buffers(sub, b) {
    b.responseBuffers = bufferSizeArg(oneArg(sub, 'response_buffers SIZE|unlimited'));
  },
  stream_timeout(sub, b) {
    b.streamTimeoutMs = nsOrDuration(oneArg(sub, 'stream_timeout D'));
  },
  stream_close_delay(sub, b) {
    b.streamCloseDelayMs = nsOrDuration(oneArg(sub, 'stream_close_delay D'));
  },
  method(sub, b) {
    const tok = oneArg(sub, 'method METHOD');
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(tok.text)) throw configError(tok, `method: invalid method "${tok.text}"`);
    b.rewrite = { ...b.rewrite, method: tok.text.toUpperCase() };
  },
  rewrite(sub, b) {
    const tok = oneArg(sub, 'rewrite URI');
    if (!tok.text.startsWith('/') && !tok.text.startsWith('?') && !tok.text.startsWith('{')) {
      throw configError(tok, `rewrite: "${tok.text}" must start with / or ? (usage: rewrite URI)`);
    }
    b.rewrite = { ...b.rewrite, uri: tok.text };
  },
  transport(sub, b) {
    const kind = oneArg(sub, 'transport http { … }');
    if (kind.text !== 'http') throw configError(kind, `unsupported transport "${kind.text}" (only http)`);
    parseTransport(sub.block ?? [], b.transport);
  },
};
