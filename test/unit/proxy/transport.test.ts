import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import diagnosticsChannel from 'node:diagnostics_channel';
import path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { selfSignedFixture } from '../../helpers/self-signed.ts';
import type { UpstreamErrorEvent } from '../../../src/diagnostics.ts';
import { headerTimeout, UpstreamTransport } from '../../../src/proxy/transport.ts';
import { reverseProxyDefaults } from '../../../src/config/defaults.ts';
import type { TransportConfig, UpstreamConfig } from '../../../src/config/types.ts';
import { echoUpstream, front, parseEcho, proxyConfig, request, upstream, upstreamConfig } from './helpers.ts';

/** Loopback tests finish in well under a second; a hang should fail fast, not at the runner's limit. */
const E2E = { timeout: 15_000 };

const DEFAULT_TRANSPORT = reverseProxyDefaults([]).transport;

/** The TLS upstream's certificate; its dir also holds the unix-socket upstream's socket file. */
const selfSigned = selfSignedFixture('my-server-transport-', 'upstream.test');

/** A front for one upstream with transport settings changed. */
function frontFor(upstream: UpstreamConfig, transport: Partial<TransportConfig>): ReturnType<typeof front> {
  const config = reverseProxyDefaults([upstream]);
  return front({ ...config, transport: { ...config.transport, ...transport } });
}

/** A TLS upstream on 127.0.0.1 that records the SNI of each connection (false when none was sent). */
async function tlsUpstream(): Promise<{ port: number; servernames: (string | false)[]; close: () => Promise<void> }> {
  const servernames: (string | false)[] = [];
  const server = https.createServer({ key: selfSigned.key, cert: selfSigned.cert }, (req, res) => res.end(`host ${req.headers.host}`));
  server.on('secureConnection', (socket: tls.TLSSocket) => servernames.push(socket.servername ?? false));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    servernames,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('header timeout: the shorter of response_header_timeout and read_timeout, named after its directive', () => {
  const table: [number | undefined, number | undefined, ReturnType<typeof headerTimeout>][] = [
    [undefined, undefined, undefined],
    [0, 0, undefined],
    [500, undefined, { ms: 500, phase: 'response-header' }],
    [undefined, 700, { ms: 700, phase: 'read' }],
    [500, 700, { ms: 500, phase: 'response-header' }],
    [900, 700, { ms: 700, phase: 'read' }],
  ];
  for (const [responseHeaderTimeoutMs, readTimeoutMs, want] of table) {
    const { responseHeaderTimeoutMs: _header, readTimeoutMs: _read, ...rest } = DEFAULT_TRANSPORT;
    const config: TransportConfig = {
      ...rest,
      ...(responseHeaderTimeoutMs === undefined ? {} : { responseHeaderTimeoutMs }),
      ...(readTimeoutMs === undefined ? {} : { readTimeoutMs }),
    };
    assert.deepEqual(headerTimeout(config), want, `${responseHeaderTimeoutMs} / ${readTimeoutMs}`);
  }
});

test('keepalive 0 sends Connection: close and opens one upstream connection per request', E2E, async () => {
  let connections = 0;
  const up = await upstream((req, res) => res.end(String(req.headers.connection)));
  up.server.on('connection', () => connections++);
  const fr = await front(proxyConfig([up.port], { transport: { ...DEFAULT_TRANSPORT, keepAliveMs: 0 } }));
  try {
    for (let i = 0; i < 3; i++) assert.equal((await request(fr.port)).body, 'close');
    assert.equal(connections, 3);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('a unix-socket upstream is reached through its socket file', E2E, async () => {
  const socketPath = path.join(selfSigned.dir, 'upstream.sock');
  const server = http.createServer((req, res) => res.end(`unix ${req.url} ${req.headers.host}`));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const fr = await frontFor({ scheme: 'unix', host: '', port: 0, path: socketPath }, {});
  try {
    const res = await request(fr.port, { path: '/over/unix', headers: { host: 'site.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'unix /over/unix site.example');
  } finally {
    await fr.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a TLS upstream gets tls_server_name as SNI whatever Host the client sent, over one kept-alive connection', E2E, async () => {
  const up = await tlsUpstream();
  const fr = await frontFor(
    { scheme: 'https', host: '127.0.0.1', port: up.port },
    { tls: true, tlsInsecureSkipVerify: true, tlsServerName: 'upstream.test' },
  );
  try {
    for (const host of ['a.example', 'b.example', 'a.example']) {
      assert.equal((await request(fr.port, { headers: { host } })).body, `host ${host}`);
    }
    assert.deepEqual(up.servernames, ['upstream.test']);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('a TLS upstream named by an IP address gets no SNI, not the client Host', E2E, async () => {
  const up = await tlsUpstream();
  const fr = await frontFor({ scheme: 'https', host: '127.0.0.1', port: up.port }, { tls: true, tlsInsecureSkipVerify: true });
  try {
    assert.equal((await request(fr.port, { headers: { host: 'site.example' } })).status, 200);
    assert.deepEqual(up.servernames, [false]);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('a TLS upstream whose certificate is not trusted gives 502: verification is on by default', E2E, async () => {
  const up = await tlsUpstream();
  const events: UpstreamErrorEvent[] = [];
  const onEvent = (msg: unknown): void => void events.push(msg as UpstreamErrorEvent);
  diagnosticsChannel.subscribe('my-server:proxy:upstream-error', onEvent);
  const fr = await frontFor({ scheme: 'https', host: '127.0.0.1', port: up.port }, { tls: true, tlsServerName: 'upstream.test' });
  try {
    const res = await request(fr.port);
    assert.equal(res.status, 502);
    assert.equal((events[0]?.error as NodeJS.ErrnoException | undefined)?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  } finally {
    diagnosticsChannel.unsubscribe('my-server:proxy:upstream-error', onEvent);
    await Promise.all([fr.close(), up.close()]);
  }
});

test('close() destroys the pools, closing kept-alive upstream connections', E2E, async () => {
  const up = await echoUpstream('a');
  const open = new Set<Socket>();
  up.server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  const fr = await front(proxyConfig([up.port]));
  try {
    assert.equal(parseEcho(await request(fr.port)).name, 'a');
    assert.equal(open.size, 1);
    await fr.proxy.close();
    // Each kept-alive connection's close event, seen from the upstream's side; 2 s is a failure.
    await Promise.all([...open].map((socket) => once(socket, 'close', { signal: AbortSignal.timeout(2_000) })));
    assert.equal(open.size, 0);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('a dispatch after close() is refused as a destroyed pool refuses it, and opens no connection', E2E, async () => {
  // HTTP/2 requests dispatch a turn after they start, so one can come after a reload closed the
  // old config's transport; before the guard it built a new pool that nothing closed.
  let connections = 0;
  const up = await upstream((_req, res) => res.end('ok'));
  up.server.on('connection', () => connections++);
  const transport = new UpstreamTransport(reverseProxyDefaults([]).transport);
  try {
    await transport.close();
    const error = await new Promise<Error>((resolve, reject) => {
      transport.dispatch(upstreamConfig(up.port), { method: 'GET', path: '/', headers: {}, body: null }, {
        onResponseError: (_controller, err) => resolve(err),
        onResponseEnd: () => reject(new Error('the request was answered')),
      });
    });
    assert.equal((error as NodeJS.ErrnoException).code, 'UND_ERR_DESTROYED');
    // A pool built after close() would have dialled by now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(connections, 0);
  } finally {
    await up.close();
  }
});
