import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../../src/config/index.ts';
import { PROXY_DEFAULTS } from '../../../src/config/defaults.ts';
import type { ReverseProxyConfig, ReverseProxyRoute } from '../../../src/config/types.ts';
import { silentLogger } from '../../../src/log.ts';
import { ReverseProxy } from '../../../src/proxy/reverse-proxy.ts';
import { SiteTable } from '../../../src/routes/site-table.ts';
import { contextOf, get, serve } from './serve.ts';

async function upstream(): Promise<{ port: number; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end(`upstream saw ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('reverse_proxy inside handle_path sends the stripped path and the original query upstream', async () => {
  const up = await upstream();
  const config = await parseConfig(
    `
http://site.test:8080 {
	handle_path /api/* {
		reverse_proxy 127.0.0.1:${up.port}
	}
	reverse_proxy 127.0.0.1:${up.port}
}
`,
    { filename: 'test' },
  );
  const table = new SiteTable(config.sites, 'http', 8080, silentLogger());
  const s = await serve(async (req, res) => {
    const ctx = contextOf(req);
    await table.find(ctx.host)!.handle(req, res, ctx);
  });
  try {
    assert.equal((await get(s.port, '/api/users/7?full=1&x=%20', { host: 'site.test' })).body.toString(), 'upstream saw /users/7?full=1&x=%20');
    assert.equal((await get(s.port, '/other?y=2', { host: 'site.test' })).body.toString(), 'upstream saw /other?y=2');
    assert.deepEqual(up.seen, ['/users/7?full=1&x=%20', '/other?y=2']);
  } finally {
    await s.close();
    await table.close();
    await up.close();
  }
});

test('reverse_proxy parses every option into the one shape the proxy runs on', async () => {
  const config = await parseConfig(
    `
http://site.test:8080 {
	reverse_proxy 127.0.0.1:9001 127.0.0.1:9002 {
		lb_policy header X-User
		lb_retries 3
		lb_try_duration 5s
		lb_try_interval 100ms
		health_uri /healthz
		health_interval 10s
		health_timeout 2s
		health_status 2xx
		fail_duration 30s
		max_fails 2
		unhealthy_status 5xx 404
		header_up X-Up 1
		header_down -Server
		flush_interval -1
		transport http {
			dial_timeout 1s
			response_header_timeout 3s
			read_timeout 4s
			tls_server_name upstream.test
			keepalive 90s
		}
	}
}
`,
    { filename: 'test' },
  );
  const route = config.sites[0]!.routes.find((r): r is ReverseProxyRoute => r.kind === 'reverse_proxy')!;
  // The route is the proxy's configuration: no adapter copies it field by field.
  const p: ReverseProxyConfig = route;
  assert.deepEqual(
    p.upstreams.map((u) => `${u.scheme}://${u.host}:${u.port}`),
    ['https://127.0.0.1:9001', 'https://127.0.0.1:9002'],
  );
  assert.deepEqual(p.lb, { policy: 'header', header: 'X-User', retries: 3, tryDurationMs: 5000, tryIntervalMs: 100 });
  assert.deepEqual(p.health, { uri: '/healthz', intervalMs: 10_000, timeoutMs: 2000, status: '2xx' });
  assert.deepEqual(p.passive, { failDurationMs: 30_000, maxFails: 2, unhealthyStatus: ['5xx', 404] });
  assert.deepEqual(p.headerUp, [{ op: 'set', name: 'X-Up', value: '1' }]);
  assert.deepEqual(p.headerDown, [{ op: 'delete', name: 'Server' }]);
  assert.equal(p.flushIntervalMs, -1);
  assert.deepEqual(p.transport, {
    dialTimeoutMs: 1000,
    responseHeaderTimeoutMs: 3000,
    readTimeoutMs: 4000,
    tls: true,
    tlsInsecureSkipVerify: false,
    tlsServerName: 'upstream.test',
    keepAliveMs: 90_000,
  });
  const proxy = new ReverseProxy(p, { healthProbe: () => Promise.resolve(200) });
  await proxy.close();
});

test('reverse_proxy with no options gets PROXY_DEFAULTS, active health checks off', async () => {
  const config = await parseConfig('http://site.test:8080 {\n\treverse_proxy 127.0.0.1:9001\n}\n', { filename: 'test' });
  const route = config.sites[0]!.routes[0] as ReverseProxyRoute;
  const { kind, pos, upstreams, ...rest } = route;
  assert.equal(kind, 'reverse_proxy');
  assert.ok(pos);
  assert.deepEqual(rest, PROXY_DEFAULTS);
  assert.equal(route.health.uri, undefined);
  assert.deepEqual(
    upstreams.map(({ scheme, host, port }) => ({ scheme, host, port })),
    [{ scheme: 'http', host: '127.0.0.1', port: 9001 }],
  );
  assert.ok(!Object.isFrozen(PROXY_DEFAULTS.lb), 'the frozen config shares no object with the defaults table');
});
