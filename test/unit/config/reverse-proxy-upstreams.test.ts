/**
 * reverse_proxy upstream forms as Caddy reads them: `to` lines, the `:port` shorthand, h2c://,
 * and the FILE:LINE:COL errors of each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';
import type { ReverseProxyRoute } from '../../../src/config/types.ts';

async function proxyOf(block: string): Promise<ReverseProxyRoute> {
  const config = await parseConfig(`http://a.test {\n${block}\n}\n`, { filename: 'Proxyfile' });
  const route = config.sites[0]?.routes.find((r) => r.kind === 'reverse_proxy');
  assert.ok(route !== undefined && route.kind === 'reverse_proxy');
  return route;
}

async function errorOf(block: string): Promise<string> {
  try {
    await parseConfig(`http://a.test {\n${block}\n}\n`, { filename: 'Proxyfile' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

const addresses = (r: ReverseProxyRoute): string[] => r.upstreams.map((u) => `${u.scheme}://${u.host}:${u.port}`);

test('upstreams from the arguments and from to lines add up, in the order written', async () => {
  const r = await proxyOf('\treverse_proxy 10.0.0.1:81 {\n\t\tto 10.0.0.2:82 10.0.0.3:83\n\t\tto 10.0.0.4:84\n\t}');
  assert.deepEqual(addresses(r), ['http://10.0.0.1:81', 'http://10.0.0.2:82', 'http://10.0.0.3:83', 'http://10.0.0.4:84']);
});

test('a reverse_proxy with only a to line and a path matcher', async () => {
  const r = await proxyOf('\treverse_proxy /api/* {\n\t\tto backend:9000-9001\n\t}');
  assert.deepEqual(r.matcher?.matchers, [{ type: 'path', paths: ['/api/*'] }]);
  assert.deepEqual(addresses(r), ['http://backend:9000', 'http://backend:9001']);
});

test(':port and http://:port name this machine as localhost', async () => {
  assert.deepEqual(addresses(await proxyOf('\treverse_proxy :8080')), ['http://localhost:8080']);
  assert.deepEqual(addresses(await proxyOf('\treverse_proxy http://:8081')), ['http://localhost:8081']);
  assert.deepEqual(addresses(await proxyOf('\treverse_proxy {\n\t\tto :8082 :8083\n\t}')), ['http://localhost:8082', 'http://localhost:8083']);
});

test('h2c:// upstreams are plain http with transport versions h2c 2, as Caddy sets them', async () => {
  const r = await proxyOf('\treverse_proxy h2c://127.0.0.1:50051 h2c://grpc:50052');
  assert.deepEqual(addresses(r), ['http://127.0.0.1:50051', 'http://grpc:50052']);
  assert.deepEqual(r.transport.versions, ['h2c', '2']);
  assert.equal(r.transport.tls, false);
  assert.deepEqual(addresses(await proxyOf('\treverse_proxy h2c://grpc')), ['http://grpc:80']);
  for (const block of ['\treverse_proxy b:9000 h2c://a:9001', '\treverse_proxy h2c://a:9001 {\n\t\tto b:9000\n\t}']) {
    const mixed = await proxyOf(block);
    assert.deepEqual(mixed.transport.versions, ['h2c', '2'], `${block}: an upstream without a scheme goes with h2c ones`);
  }
});

test('upstream errors point at the offending token', async () => {
  const cases: [string, RegExp][] = [
    ['\treverse_proxy', /^Proxyfile:2:2: reverse_proxy: missing upstream/],
    ['\treverse_proxy {\n\t\tlb_policy first\n\t}', /^Proxyfile:2:2: reverse_proxy: missing upstream/],
    ['\treverse_proxy {\n\t\tto\n\t}', /^Proxyfile:3:3: to: missing argument \(usage: to UPSTREAM\.\.\.\)/],
    ['\treverse_proxy a:1 {\n\t\tto b:2 https://c\n\t}', /^Proxyfile:3:10: reverse_proxy: all upstreams must use the same scheme \(http or https\)/],
    ['\treverse_proxy h2c://a:1 {\n\t\tto http://b:2\n\t}', /^Proxyfile:3:6: reverse_proxy: all upstreams must use the same scheme \(h2c:\/\/ cannot be mixed/],
    ['\treverse_proxy http://b:2 h2c://a:1', /^Proxyfile:2:27: reverse_proxy: all upstreams must use the same scheme \(h2c:\/\/ cannot be mixed/],
    ['\treverse_proxy h2c://a:1 https://b', /^Proxyfile:2:26: reverse_proxy: all upstreams must use the same scheme \(h2c:\/\/ cannot be mixed/],
    ['\treverse_proxy h2c://a:443', /^Proxyfile:2:16: invalid upstream "h2c:\/\/a:443": h2c:\/\/ with port 443/],
    ['\treverse_proxy h2c://a:1 {\n\t\ttransport http {\n\t\t\ttls\n\t\t}\n\t}', /^Proxyfile:2:16: reverse_proxy: upstream is h2c:\/\/ but the transport uses TLS/],
    ['\treverse_proxy :', /^Proxyfile:2:16: invalid upstream ":": port "" is not a number/],
    ['\treverse_proxy {\n\t\tto ftp://x\n\t}', /^Proxyfile:3:6: invalid upstream "ftp:\/\/x": unsupported scheme/],
  ];
  for (const [block, expected] of cases) assert.match(await errorOf(block), expected, block);
});
