/** health_port, health_method, health_headers and health_body as Caddy reads them, and their errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';
import type { ActiveHealthConfig } from '../../../src/config/types.ts';

async function healthOf(lines: string): Promise<ActiveHealthConfig> {
  const config = await parseConfig(`http://a.test {\n\treverse_proxy a:1 {\n${lines}\n\t}\n}\n`, { filename: 'Proxyfile' });
  const route = config.sites[0]?.routes[0];
  assert.ok(route?.kind === 'reverse_proxy');
  return route.health;
}

async function errorOf(lines: string): Promise<string> {
  try {
    await healthOf(lines);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

test('the health subdirectives fill the active health config', async () => {
  const h = await healthOf(
    [
      '\t\thealth_uri /ready',
      '\t\thealth_port 8081',
      '\t\thealth_method HEAD',
      '\t\thealth_headers {',
      '\t\t\tHost health.internal',
      '\t\t\tX-Check a b',
      '\t\t\tx-check c',
      '\t\t\tX-Empty',
      '\t\t}',
      '\t\thealth_body "(?i)^status: (?P<s>ok|fine)$"',
    ].join('\n'),
  );
  assert.equal(h.port, 8081);
  assert.equal(h.method, 'HEAD');
  assert.deepEqual(h.headers, { Host: ['health.internal'], 'X-Check': ['a', 'b', 'c'], 'X-Empty': [''] });
  assert.deepEqual(h.body, { source: '^status: (?<s>ok|fine)$', flags: 'i' });
  const re = new RegExp(h.body.source, h.body.flags);
  assert.ok(re.test('STATUS: fine'));
});

test('health subdirective errors point at the token', async () => {
  const cases: [string, RegExp][] = [
    ['\t\thealth_port 0', /^Proxyfile:3:15: invalid port "0": must be 1-65535/],
    ['\t\thealth_port x', /^Proxyfile:3:15: invalid port "x": not an integer/],
    ['\t\thealth_port', /^Proxyfile:3:3: health_port: missing argument/],
    ['\t\thealth_method "GE T"', /^Proxyfile:3:17: health_method: invalid method "GE T"/],
    ['\t\thealth_body "(unclosed"', /^Proxyfile:3:15: invalid regexp "\(unclosed"/],
    // `\Q` (quote until `\E`) is Go RE2 syntax JavaScript reads differently. (An escaped backslash
    // before Q, `\\Q`, is plain RE2 and is accepted: util/go-regexp.ts reads escapes in pairs.)
    ['\t\thealth_body "a\\Qb"', /^Proxyfile:3:15: invalid regexp .*Go RE2 syntax/],
    ['\t\thealth_headers {\n\t\t\t"Bad Name" x\n\t\t}', /^Proxyfile:4:4: invalid header name "Bad Name"/],
    ['\t\thealth_headers x {\n\t\t}', /^Proxyfile:3:18: health_headers: unexpected argument "x"/],
    ['\t\thealth_headers {\n\t\t\tX-A b {\n\t\t\t}\n\t\t}', /^Proxyfile:4:10: X-A does not take a block/],
    ['\t\thealth_method GET {\n\t\t}', /^Proxyfile:3:21: health_method does not take a block/],
  ];
  for (const [lines, expected] of cases) assert.match(await errorOf(lines), expected, lines);
});
