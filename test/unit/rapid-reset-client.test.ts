/**
 * The hand-written rapid-reset client of test/helpers/rapid-reset.ts against Node's own HTTP/2
 * server: its frames must be requests a real server parses (else a "GOAWAY" could be a protocol
 * error, not the flood defence), and what it reports must be what the server did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import net, { type AddressInfo } from 'node:net';
import { rapidResetBurst } from '../helpers/rapid-reset.ts';
import { selfSignedFixture } from '../helpers/self-signed.ts';

const NAME = 'a.test';
const fixture = selfSignedFixture('my-server-rapid-reset-', NAME);

interface Seen {
  readonly server: http2.Http2SecureServer;
  readonly port: number;
  readonly streams: http2.IncomingHttpHeaders[];
  /** Session errors and stream errors, as the server reported them. */
  readonly errors: string[];
}

async function h2Server(): Promise<Seen> {
  const streams: http2.IncomingHttpHeaders[] = [];
  const errors: string[] = [];
  const server = http2.createSecureServer({ key: fixture.key, cert: fixture.cert });
  server.on('stream', (stream, headers) => {
    streams.push(headers);
    stream.on('error', (err) => errors.push(err.message));
  });
  server.on('sessionError', (err) => errors.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, streams, errors };
}

function close(s: Seen): Promise<void> {
  return new Promise((resolve) => s.server.close(() => resolve()));
}

test('each pair is a GET the server parses, with the :authority given; a few pairs get no GOAWAY and no close', async () => {
  const s = await h2Server();
  try {
    const burst = await rapidResetBurst({ port: s.port, servername: NAME, pairs: 10, waitMs: 300 });
    assert.deepEqual(burst, { sent: 10, closed: false });
    assert.equal(s.streams.length, 10);
    for (const h of s.streams) {
      assert.deepEqual([h[':method'], h[':scheme'], h[':authority'], h[':path']], ['GET', 'https', NAME, '/']);
    }
    assert.deepEqual(s.errors, []);
  } finally {
    await close(s);
  }
});

test('2,000 pairs trip the server rate limit on resets: GOAWAY is read', async () => {
  const s = await h2Server();
  try {
    const burst = await rapidResetBurst({ port: s.port, servername: NAME, pairs: 2_000, waitMs: 10_000 });
    // nghttp2 ends the session with INTERNAL_ERROR once its stream-reset bucket (1,000) is empty.
    assert.equal(burst.goaway, http2.constants.NGHTTP2_INTERNAL_ERROR);
    // The server takes no stream after its GOAWAY, whatever the client still sends.
    assert.ok(s.streams.length >= 1_000 && s.streams.length < 2_000, `${s.streams.length} streams reached the server`);
  } finally {
    await close(s);
  }
});

test('a server that closes the connection without GOAWAY is reported as closed', async () => {
  const s = await h2Server();
  // Cut at the fifth stream, as a server in front might (a load balancer's reset, a crash). The TLS
  // socket itself: destroying the session's would send GOAWAY first.
  let socket: tls.TLSSocket | undefined;
  s.server.on('secureConnection', (tlsSocket: tls.TLSSocket) => (socket = tlsSocket));
  s.server.on('stream', () => {
    if (s.streams.length === 5) socket?.destroy();
  });
  try {
    const burst = await rapidResetBurst({ port: s.port, servername: NAME, pairs: 2_000, waitMs: 10_000 });
    assert.equal(burst.closed, true);
    assert.equal(burst.goaway, undefined);
  } finally {
    await close(s);
  }
});

test('a server that never ends the TLS handshake is given up after waitMs', async () => {
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const sockets: net.Socket[] = [];
  silent.on('connection', (socket) => sockets.push(socket));
  try {
    const port = (silent.address() as AddressInfo).port;
    await assert.rejects(rapidResetBurst({ port, servername: NAME, pairs: 1, waitMs: 300 }), /no TLS handshake within 300 ms/);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

for (const [what, alpn, refusal] of [
  ['no ALPN', undefined, /chose no protocol instead of h2/],
  ['only http/1.1', ['http/1.1'], /TLS handshake did not end: .*no application protocol/i],
] as const) {
  test(`a server with ${what} is refused, and the reason says so`, async () => {
    const server = tls.createServer({ key: fixture.key, cert: fixture.cert, ...(alpn === undefined ? {} : { ALPNProtocols: [...alpn] }) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      await assert.rejects(rapidResetBurst({ port, servername: NAME, pairs: 1, waitMs: 100 }), refusal);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
}
