/** lb_policy as Caddy's selection policies read it, and the FILE:LINE:COL errors of each. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';
import type { LoadBalancingConfig } from '../../../src/config/types.ts';

async function lbOf(upstreams: string, lines: string): Promise<LoadBalancingConfig> {
  const config = await parseConfig(`http://a.test {\n\treverse_proxy ${upstreams} {\n${lines}\n\t}\n}\n`, { filename: 'Proxyfile' });
  const route = config.sites[0]?.routes[0];
  assert.ok(route?.kind === 'reverse_proxy');
  return route.lb;
}

async function errorOf(upstreams: string, lines: string): Promise<string> {
  try {
    await lbOf(upstreams, lines);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

test('lb_policy forms from Caddy parse into the load-balancing config', async () => {
  const cases: [string, string, Partial<LoadBalancingConfig>][] = [
    ['a:1 b:2', '\t\tlb_policy client_ip_hash', { policy: 'client_ip_hash' }],
    ['a:1 b:2', '\t\tlb_policy query tenant', { policy: 'query', queryKey: 'tenant' }],
    ['a:1 b:2', '\t\tlb_policy query tenant {\n\t\t\tfallback first\n\t\t}', { policy: 'query', queryKey: 'tenant', fallback: 'first' }],
    ['a:1 b:2', '\t\tlb_policy header X-User {\n\t\t\tfallback round_robin\n\t\t}', { policy: 'header', header: 'X-User', fallback: 'round_robin' }],
    ['a:1 b:2', '\t\tlb_policy cookie', { policy: 'cookie', cookie: { name: 'lb', secret: '' } }],
    ['a:1 b:2', '\t\tlb_policy cookie sticky', { policy: 'cookie', cookie: { name: 'sticky', secret: '' } }],
    [
      'a:1 b:2',
      '\t\tlb_policy cookie sticky s3cret {\n\t\t\tmax_age 1h\n\t\t\tfallback least_conn\n\t\t}',
      { policy: 'cookie', cookie: { name: 'sticky', secret: 's3cret', maxAgeMs: 3_600_000 }, fallback: 'least_conn' },
    ],
    ['a:1 b:2 c:3', '\t\tlb_policy random_choose 2', { policy: 'random_choose', choose: 2 }],
    ['a:1 b:2 c:3', '\t\tlb_policy weighted_round_robin 3 1 0', { policy: 'weighted_round_robin', weights: [3, 1, 0] }],
  ];
  for (const [ups, lines, expected] of cases) {
    const lb = await lbOf(ups, lines);
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(lb[key as keyof LoadBalancingConfig], value, lines);
  }
});

test('lb_policy errors name the token at fault', async () => {
  const cases: [string, string, RegExp][] = [
    ['a:1', '\t\tlb_policy sticky', /^Proxyfile:3:13: unsupported lb_policy "sticky"/],
    ['a:1', '\t\tlb_policy query', /^Proxyfile:3:13: lb_policy query: missing query KEY/],
    ['a:1', '\t\tlb_policy query a b', /^Proxyfile:3:21: lb_policy query: unexpected argument "b"/],
    ['a:1', '\t\tlb_policy cookie a b c', /^Proxyfile:3:24: lb_policy cookie: unexpected argument "c"/],
    ['a:1', '\t\tlb_policy cookie "a b"', /^Proxyfile:3:20: lb_policy cookie: invalid cookie name "a b"/],
    ['a:1', '\t\tlb_policy random_choose', /^Proxyfile:3:13: lb_policy random_choose: missing N/],
    ['a:1', '\t\tlb_policy random_choose 1', /^Proxyfile:3:27: invalid random_choose count "1": must be 2-/],
    ['a:1', '\t\tlb_policy random_choose x', /^Proxyfile:3:27: invalid random_choose count "x": not an integer/],
    ['a:1 b:2', '\t\tlb_policy weighted_round_robin 1 -1', /^Proxyfile:3:36: invalid weight "-1": must be 0-/],
    ['a:1 b:2', '\t\tlb_policy weighted_round_robin 0 0', /^Proxyfile:3:13: lb_policy weighted_round_robin: at least one weight must be positive/],
    ['a:1 b:2', '\t\tlb_policy weighted_round_robin 1', /^Proxyfile:2:2: reverse_proxy: lb_policy weighted_round_robin has 1 weight\(s\) for 2 upstream\(s\)/],
    ['a:1', '\t\tlb_policy first x', /^Proxyfile:3:19: lb_policy first: unexpected argument "x"/],
    ['a:1', '\t\tlb_policy header X {\n\t\t\tfallback cookie\n\t\t}', /^Proxyfile:4:13: lb_policy header: unsupported fallback "cookie"/],
    ['a:1', '\t\tlb_policy first {\n\t\t\tfallback random\n\t\t}', /^Proxyfile:4:4: unknown subdirective "fallback" in lb_policy first/],
    ['a:1', '\t\tlb_policy cookie {\n\t\t\tmax_age 0s\n\t\t}', /^Proxyfile:4:12: invalid duration "0s": must be greater than zero/],
    ['a:1', '\t\tlb_policy cookie {\n\t\t\tmax_age 1h\n\t\t\tmax_age 2h\n\t\t}', /^Proxyfile:5:4: max_age is already set at/],
  ];
  for (const [ups, lines, expected] of cases) assert.match(await errorOf(ups, lines), expected, lines);
});
