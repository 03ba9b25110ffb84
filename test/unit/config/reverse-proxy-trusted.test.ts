/** reverse_proxy { trusted_proxies } as Caddy's Caddyfile reads it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';
import { PRIVATE_RANGES } from '../../../src/config/cidr.ts';

async function trustedOf(lines: string): Promise<readonly string[] | undefined> {
  const config = await parseConfig(`http://a.test {\n\treverse_proxy a:1 {\n${lines}\n\t}\n}\n`, { filename: 'Proxyfile' });
  const route = config.sites[0]?.routes[0];
  assert.ok(route?.kind === 'reverse_proxy');
  return route.trustedProxies;
}

test('trusted_proxies takes CIDRs, addresses and private_ranges, over several lines', async () => {
  assert.deepEqual(await trustedOf('\t\ttrusted_proxies 10.0.0.0/8 ::1'), ['10.0.0.0/8', '::1']);
  assert.deepEqual(await trustedOf('\t\ttrusted_proxies private_ranges'), [...PRIVATE_RANGES]);
  assert.deepEqual(await trustedOf('\t\ttrusted_proxies 203.0.113.0/24\n\t\ttrusted_proxies private_ranges'), ['203.0.113.0/24', ...PRIVATE_RANGES]);
  assert.equal(await trustedOf('\t\tlb_policy first'), undefined);
});

test('trusted_proxies errors point at the range', async () => {
  const cases: [string, RegExp][] = [
    ['\t\ttrusted_proxies', /^Proxyfile:3:3: trusted_proxies: missing argument/],
    ['\t\ttrusted_proxies 10.0.0.0/33', /^Proxyfile:3:19: trusted_proxies: invalid range "10.0.0.0\/33": prefix length/],
    ['\t\ttrusted_proxies static 10.0.0.0/8', /^Proxyfile:3:19: trusted_proxies: invalid range "static": "static" is not an IP address/],
  ];
  for (const [lines, expected] of cases) {
    await assert.rejects(trustedOf(lines), (err: unknown) => err instanceof ConfigError && expected.test(err.message), lines);
  }
});
