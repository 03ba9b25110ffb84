/**
 * `lb_policy` of reverse_proxy: Caddy's selection policies with their arguments and block options
 * (modules/caddyhttp/reverseproxy/selectionpolicies.go, UnmarshalCaddyfile of each).
 */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { LbPolicy, LoadBalancingConfig } from '../types.ts';
import { durationArg, headerNameArg, intArg } from '../values.ts';
import { unknownSub } from './global-options.ts';
import { argsOf, noBlock, Once, oneArg } from './helpers.ts';

type Lb = { -readonly [K in keyof LoadBalancingConfig]: LoadBalancingConfig[K] };

const POLICIES: readonly LbPolicy[] = [
  'random',
  'round_robin',
  'least_conn',
  'first',
  'ip_hash',
  'client_ip_hash',
  'uri_hash',
  'header',
  'query',
  'cookie',
  'random_choose',
  'weighted_round_robin',
];
/** Policies that take no argument: the ones a `fallback` may name. */
const SIMPLE_POLICIES: readonly LbPolicy[] = ['random', 'round_robin', 'least_conn', 'first', 'ip_hash', 'client_ip_hash', 'uri_hash'];
const LB_USAGE =
  'lb_policy random|round_robin|least_conn|first|ip_hash|client_ip_hash|uri_hash|header NAME|query KEY|cookie [NAME [SECRET]]|random_choose N|weighted_round_robin W...';

/**
 * `lb_policy NAME [ARGS...] [{ fallback POLICY; max_age D }]`, with the arguments and block
 * options of Caddy's selection policies (selectionpolicies.go UnmarshalCaddyfile): `fallback` for
 * header, query and cookie; `max_age` for cookie.
 */
export function lbPolicy(sub: Node): Partial<Lb> {
  const [policyTok, ...args] = argsOf(sub, 1, Infinity, LB_USAGE) as [Token, ...Token[]];
  const policy = policyTok.text as LbPolicy;
  if (!POLICIES.includes(policy)) throw configError(policyTok, `unsupported lb_policy "${policyTok.text}" (use ${POLICIES.join(', ')})`);
  const noMore = (max: number): void => {
    const extra = args[max];
    if (extra !== undefined) throw configError(extra, `lb_policy ${policy}: unexpected argument "${extra.text}" (usage: ${LB_USAGE})`);
  };
  const need = (what: string): Token => {
    const tok = args[0];
    if (tok === undefined) throw configError(policyTok, `lb_policy ${policy}: missing ${what} (usage: ${LB_USAGE})`);
    return tok;
  };
  const out: Partial<Lb> = { policy };
  switch (policy) {
    case 'header':
      out.header = headerNameArg(need('header NAME'), need('header NAME').text);
      noMore(1);
      break;
    case 'query':
      out.queryKey = need('query KEY').text;
      noMore(1);
      break;
    case 'cookie': {
      noMore(2);
      out.cookie = { name: args[0]?.text ?? 'lb', secret: args[1]?.text ?? '' };
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(out.cookie.name)) throw configError(args[0] as Token, `lb_policy cookie: invalid cookie name "${out.cookie.name}"`);
      break;
    }
    case 'random_choose':
      out.choose = intArg(need('N'), 2, 1_000_000, 'random_choose count');
      noMore(1);
      break;
    case 'weighted_round_robin':
      need('weights W...');
      out.weights = args.map((tok) => intArg(tok, 0, 1_000_000, 'weight'));
      if (out.weights.every((w) => w === 0)) throw configError(policyTok, 'lb_policy weighted_round_robin: at least one weight must be positive');
      break;
    default:
      noMore(0);
  }
  const once = new Once();
  for (const line of sub.block ?? []) {
    once.check(line);
    noBlock(line);
    const name = line.name.text;
    if (name === 'fallback' && (policy === 'header' || policy === 'query' || policy === 'cookie')) {
      const fb = oneArg(line, 'fallback POLICY');
      if (!SIMPLE_POLICIES.includes(fb.text as LbPolicy)) {
        throw configError(fb, `lb_policy ${policy}: unsupported fallback "${fb.text}" (use ${SIMPLE_POLICIES.join(', ')})`);
      }
      out.fallback = fb.text as LbPolicy;
    } else if (name === 'max_age' && policy === 'cookie' && out.cookie !== undefined) {
      out.cookie = { ...out.cookie, maxAgeMs: durationArg(oneArg(line, 'max_age D')) };
    } else {
      throw unknownSub(line, `lb_policy ${policy}`);
    }
  }
  return out;
}

/** Checks that need the whole directive: weights against the upstreams they weigh. */
export function validateLb(b: { readonly lb: LoadBalancingConfig; readonly upstreams: readonly unknown[] }, node: Node): void {
  const weights = b.lb.weights;
  if (b.lb.policy === 'weighted_round_robin' && weights !== undefined && weights.length !== b.upstreams.length) {
    throw configError(
      node.name,
      `reverse_proxy: lb_policy weighted_round_robin has ${weights.length} weight(s) for ${b.upstreams.length} upstream(s); give one weight per upstream, in order`,
    );
  }
}

