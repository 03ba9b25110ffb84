import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROXY_DEFAULTS } from '../../../src/config/defaults.ts';
import type { TransportVersion } from '../../../src/config/types.ts';
import { http2Mode } from '../../../src/proxy/transport.ts';

test('transport versions choose HTTP/2 per upstream kind as Caddy does: h2c for plain, 2 for TLS', () => {
  const cases: [TransportVersion[] | undefined, boolean, ReturnType<typeof http2Mode>][] = [
    [undefined, false, 'none'],
    [undefined, true, 'none'],
    [['1.1'], false, 'none'],
    [['h2c', '2'], false, 'h2c'],
    [['h2c', '2'], true, 'h2'],
    [['h2c'], true, 'none'],
    [['2'], false, 'none'],
    [['1.1', '2'], true, 'h2'],
    [['h2c', '2', '1.1'], false, 'h2c'],
  ];
  for (const [versions, tls, expected] of cases) {
    const config = { ...PROXY_DEFAULTS.transport, ...(versions ? { versions } : {}) };
    assert.equal(http2Mode(config, tls), expected, `${JSON.stringify(versions)} tls=${tls}`);
  }
});
