/**
 * The `reverse_proxy` directive:
 *
 *     reverse_proxy [MATCHER] UPSTREAM... {
 *         lb_policy random|round_robin|least_conn|first|ip_hash|uri_hash|header NAME
 *         lb_retries N
 *         lb_try_duration D
 *         lb_try_interval D
 *         health_uri PATH
 *         health_interval D
 *         health_timeout D
 *         health_status CODE|2xx
 *         fail_duration D
 *         max_fails N
 *         unhealthy_status CODE|5xx...
 *         header_up [+|-]NAME [VALUE]
 *         header_down [+|-]NAME [VALUE]
 *         flush_interval D|-1
 *         transport http {
 *             dial_timeout D
 *             response_header_timeout D
 *             read_timeout D
 *             tls
 *             tls_insecure_skip_verify
 *             tls_server_name NAME
 *             keepalive D|off
 *         }
 *     }
 *
 * header_up/header_down may repeat; everything else appears once. Upstreams share one scheme:
 * `https://` upstreams (or any tls option) make the transport HTTPS, which written `http://`
 * upstreams contradict.
 */
import { configError, posOf } from '../errors.ts';
import type { ReverseProxyDraft, TransportDraft } from '../draft.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { LbPolicy } from '../types.ts';
import { durationArg, headerNameArg, intArg, parseDuration, statusMatchArg } from '../values.ts';
import { unknownSub } from './global-options.ts';
import { argsOf, noBlock, Once, oneArg, splitMatcher, withArgs } from './helpers.ts';
import { applicationOrder, headerOp } from './simple.ts';
import { parseUpstream } from './upstream.ts';

const POLICIES: readonly LbPolicy[] = ['random', 'round_robin', 'least_conn', 'first', 'ip_hash', 'uri_hash', 'header'];

export function parseReverseProxy(node: Node): ReverseProxyDraft {
  const { matcher, args } = splitMatcher(node);
  const draft: ReverseProxyDraft = {
    kind: 'reverse_proxy',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    upstreams: [],
    headerUp: [],
    headerDown: [],
    transport: {},
  };
  let explicitHttp: Token | undefined;
  let scheme: 'http' | 'https' | undefined;
  for (const tok of argsOf(withArgs(node, args), 1, Infinity, 'reverse_proxy [MATCHER] UPSTREAM... [{ … }]')) {
    const parsed = parseUpstream(tok);
    if (parsed.explicitHttp) explicitHttp ??= tok;
    for (const upstream of parsed.upstreams) {
      if (upstream.scheme === 'unix') continue;
      scheme ??= upstream.scheme;
      if (upstream.scheme !== scheme) throw configError(tok, 'reverse_proxy: all upstreams must use the same scheme (http or https)');
    }
    draft.upstreams.push(...parsed.upstreams);
  }

  const once = new Once();
  for (const sub of node.block ?? []) {
    const name = sub.name.text;
    if (name !== 'header_up' && name !== 'header_down') once.check(sub);
    if (name !== 'transport') noBlock(sub);
    const parser = SUBDIRECTIVES[name];
    if (parser === undefined) throw unknownSub(sub, 'reverse_proxy');
    parser(sub, draft);
  }

  draft.headerUp = applicationOrder(draft.headerUp);
  draft.headerDown = applicationOrder(draft.headerDown);
  if (scheme === 'https') draft.transport.tls = true;
  if (draft.transport.tls === true && explicitHttp !== undefined) {
    throw configError(explicitHttp, 'reverse_proxy: upstream is http:// but the transport uses TLS');
  }
  if (draft.transport.tls === true) {
    // The upstream's scheme says how to connect, so a TLS transport makes host:port upstreams https.
    draft.upstreams = draft.upstreams.map((u) => (u.scheme === 'http' ? { ...u, scheme: 'https' } : u));
  }
  return draft;
}

type SubParser = (sub: Node, draft: ReverseProxyDraft) => void;

const SUBDIRECTIVES: Readonly<Record<string, SubParser | undefined>> = {
  lb_policy(sub, draft) {
    const [policy, header] = argsOf(sub, 1, 2, 'lb_policy POLICY') as [Token, Token | undefined];
    if (!(POLICIES as readonly string[]).includes(policy.text)) {
      throw configError(policy, `unsupported lb_policy "${policy.text}" (use ${POLICIES.join(', ')})`);
    }
    if (policy.text === 'header') {
      if (header === undefined) throw configError(policy, 'lb_policy header: missing header NAME');
      draft.lbHeader = headerNameArg(header, header.text);
    } else if (header !== undefined) {
      throw configError(header, `lb_policy ${policy.text} takes no argument`);
    }
    draft.lbPolicy = policy.text as LbPolicy;
  },
  lb_retries(sub, draft) {
    draft.lbRetries = intArg(oneArg(sub, 'lb_retries N'), 0, 1000, 'lb_retries');
  },
  lb_try_duration(sub, draft) {
    draft.lbTryDurationMs = durationArg(oneArg(sub, 'lb_try_duration D'), { allowZero: true });
  },
  lb_try_interval(sub, draft) {
    draft.lbTryIntervalMs = durationArg(oneArg(sub, 'lb_try_interval D'), { allowZero: true });
  },
  health_uri(sub, draft) {
    const uri = oneArg(sub, 'health_uri PATH');
    if (!uri.text.startsWith('/')) throw configError(uri, `health_uri "${uri.text}" must start with /`);
    draft.healthUri = uri.text;
  },
  health_interval(sub, draft) {
    draft.healthIntervalMs = durationArg(oneArg(sub, 'health_interval D'));
  },
  health_timeout(sub, draft) {
    draft.healthTimeoutMs = durationArg(oneArg(sub, 'health_timeout D'));
  },
  health_status(sub, draft) {
    draft.healthStatus = statusMatchArg(oneArg(sub, 'health_status CODE|2xx'));
  },
  fail_duration(sub, draft) {
    draft.failDurationMs = durationArg(oneArg(sub, 'fail_duration D'), { allowZero: true });
  },
  max_fails(sub, draft) {
    draft.maxFails = intArg(oneArg(sub, 'max_fails N'), 1, 1_000_000, 'max_fails');
  },
  unhealthy_status(sub, draft) {
    draft.unhealthyStatus = argsOf(sub, 1, Infinity, 'unhealthy_status CODE...').map(statusMatchArg);
  },
  header_up(sub, draft) {
    draft.headerUp.push(headerOp(sub, 'header_up [+|-]NAME [VALUE]'));
  },
  header_down(sub, draft) {
    draft.headerDown.push(headerOp(sub, 'header_down [+|-]NAME [VALUE]'));
  },
  flush_interval(sub, draft) {
    const tok = oneArg(sub, 'flush_interval D');
    // A bare integer is nanoseconds in the Caddyfile; a negative one means "flush immediately".
    if (/^-?\d+$/.test(tok.text)) {
      const ns = Number(tok.text);
      draft.flushIntervalMs = ns < 0 ? -1 : ns / 1e6;
      return;
    }
    const ms = parseDuration(tok.text) ?? durationArg(tok);
    draft.flushIntervalMs = ms < 0 ? -1 : ms;
  },
  transport(sub, draft) {
    const kind = oneArg(sub, 'transport http { … }');
    if (kind.text !== 'http') throw configError(kind, `unsupported transport "${kind.text}" (only http)`);
    parseTransport(sub.block ?? [], draft.transport);
  },
};

function parseTransport(lines: readonly Node[], transport: TransportDraft): void {
  const once = new Once();
  for (const line of lines) {
    once.check(line);
    noBlock(line);
    switch (line.name.text) {
      case 'dial_timeout':
        transport.dialTimeoutMs = durationArg(oneArg(line, 'dial_timeout D'));
        break;
      case 'response_header_timeout':
        transport.responseHeaderTimeoutMs = durationArg(oneArg(line, 'response_header_timeout D'));
        break;
      case 'read_timeout':
        transport.readTimeoutMs = durationArg(oneArg(line, 'read_timeout D'));
        break;
      case 'tls':
        argsOf(line, 0, 0, 'tls');
        transport.tls = true;
        break;
      case 'tls_insecure_skip_verify':
        argsOf(line, 0, 0, 'tls_insecure_skip_verify');
        transport.tls = true;
        transport.tlsInsecureSkipVerify = true;
        break;
      case 'tls_server_name':
        transport.tls = true;
        transport.tlsServerName = oneArg(line, 'tls_server_name NAME').text;
        break;
      case 'keepalive': {
        const tok = oneArg(line, 'keepalive D|off');
        transport.keepAliveMs = tok.text === 'off' ? 0 : durationArg(tok);
        break;
      }
      default:
        throw unknownSub(line, 'transport http');
    }
  }
}
