/** request_buffers, response_buffers, stream_*, and transport compression/max_conns_per_host/keepalive_idle_conns. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';
import type { ReverseProxyRoute } from '../../../src/config/types.ts';

async function proxyOf(lines: string): Promise<ReverseProxyRoute> {
  const config = await parseConfig(`http://a.test {\n\treverse_proxy a:1 {\n${lines}\n\t}\n}\n`, { filename: 'Proxyfile' });
  const route = config.sites[0]?.routes[0];
  assert.ok(route?.kind === 'reverse_proxy');
  return route;
}

async function errorOf(lines: string): Promise<string> {
  try {
    await proxyOf(lines);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

test('buffer sizes read as go-humanize does; unlimited is -1', async () => {
  const cases: [string, number][] = [
    ['4096', 4096],
    ['64KB', 64_000],
    ['64kb', 64_000],
    ['64KiB', 65_536],
    ['1.5MB', 1_500_000],
    ['1MiB', 1_048_576],
    ['2GB', 2_000_000_000],
    ['10B', 10],
    ['0', 0],
    ['unlimited', -1],
  ];
  for (const [text, bytes] of cases) {
    const r = await proxyOf(`\t\trequest_buffers ${text}\n\t\tresponse_buffers ${text}`);
    assert.equal(r.requestBuffers, bytes, text);
    assert.equal(r.responseBuffers, bytes, text);
  }
});

test('stream_timeout and stream_close_delay take durations or nanoseconds', async () => {
  const r = await proxyOf('\t\tstream_timeout 24h\n\t\tstream_close_delay 5m');
  assert.equal(r.streamTimeoutMs, 86_400_000);
  assert.equal(r.streamCloseDelayMs, 300_000);
  assert.equal((await proxyOf('\t\tstream_close_delay 2000000000')).streamCloseDelayMs, 2000);
  assert.equal((await proxyOf('\t\tstream_close_delay 0')).streamCloseDelayMs, 0);
  const defaults = await proxyOf('\t\tlb_policy first');
  assert.equal(defaults.streamCloseDelayMs, undefined);
  assert.equal(defaults.requestBuffers, undefined);
});

test('transport http: compression off, max_conns_per_host, keepalive_idle_conns', async () => {
  const r = await proxyOf('\t\ttransport http {\n\t\t\tcompression off\n\t\t\tmax_conns_per_host 64\n\t\t\tkeepalive_idle_conns 10\n\t\t}');
  assert.equal(r.transport.compression, false);
  assert.equal(r.transport.maxConnsPerHost, 64);
  assert.equal(r.transport.keepAliveIdleConns, 10);
  assert.equal((await proxyOf('\t\tlb_policy first')).transport.maxConnsPerHost, undefined, 'no limit by default, as Caddy');
});

test('errors of the buffer, stream and transport options point at the token', async () => {
  const cases: [string, RegExp][] = [
    ['\t\trequest_buffers lots', /^Proxyfile:3:19: invalid size "lots"/],
    ['\t\tresponse_buffers -5', /^Proxyfile:3:20: invalid size "-5"/],
    ['\t\trequest_buffers', /^Proxyfile:3:3: request_buffers: missing argument/],
    ['\t\tstream_timeout soon', /^Proxyfile:3:18: invalid duration "soon"/],
    ['\t\tstream_close_delay -1s', /^Proxyfile:3:22: invalid duration "-1s": must not be negative/],
    ['\t\ttransport http {\n\t\t\tcompression on\n\t\t}', /^Proxyfile:4:16: transport http: compression takes only "off"/],
    ['\t\ttransport http {\n\t\t\tmax_conns_per_host 0\n\t\t}', /^Proxyfile:4:23: invalid max_conns_per_host "0": must be 1-/],
    ['\t\ttransport http {\n\t\t\tkeepalive_idle_conns x\n\t\t}', /^Proxyfile:4:25: invalid keepalive_idle_conns "x": not an integer/],
    ['\t\ttransport http {\n\t\t\tversions 3\n\t\t}', /^Proxyfile:4:13: transport http: unsupported version "3" \(HTTP\/3 to upstreams is not supported\)/],
    ['\t\ttransport http {\n\t\t\tversions h2c\n\t\t\ttls\n\t\t}', /^Proxyfile:2:2: reverse_proxy: transport versions h2c \(HTTP\/2 without TLS\) but the transport uses TLS/],
  ];
  for (const [lines, expected] of cases) assert.match(await errorOf(lines), expected, lines);
});
