/**
 * HTTP/2 streams reset in the same read as their HEADERS (a rapid reset, CVE-2023-44487) cost no
 * upstream request (issue 12). The proxy dispatches an HTTP/2 request once the read that brought
 * it has been handled, so the RST_STREAM's abort comes first. Before, each such stream made an
 * undici request and started a dial, which the abort then tore down: under the bench's abuse run
 * that was most of the proxy's CPU and kept the event loop busy after the client had left.
 *
 * Counted in-process on undici's own diagnostics channel: the mechanism, not a latency.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { AddressInfo } from 'node:net';
import { ReverseProxy } from '../../../src/proxy/reverse-proxy.ts';
import { proxyConfig, upstream } from './helpers.ts';

const E2E = { timeout: 15_000 };
const RESETS = 100;

test('HTTP/2 streams reset in the same read as their HEADERS never reach the upstream pool', E2E, async () => {
  const paths: string[] = [];
  const up = await upstream((req, res) => {
    paths.push(req.url ?? '');
    res.end('ok');
  });
  const proxy = new ReverseProxy(proxyConfig([up.port]));
  let closedStreams = 0;
  let allClosed: () => void = () => {};
  const resetsHandled = new Promise<void>((resolve) => (allClosed = resolve));
  // h2c: the same compatibility API as the TLS front, without a handshake to wait for.
  const server = http2.createServer((req, res) => {
    void proxy.handle(req, res, { scheme: 'http', remoteAddress: req.socket.remoteAddress ?? '' });
  });
  server.on('stream', (stream: http2.ServerHttp2Stream) => {
    stream.once('close', () => {
      if (++closedStreams === RESETS) allClosed();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const created: string[] = [];
  const onCreate = (message: unknown): void => void created.push((message as { request: { path: string } }).request.path);
  diagnosticsChannel.subscribe('undici:request:create', onCreate);
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    session.on('error', () => undefined);
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    // HEADERS and RST_STREAM for each stream, all written in this tick: one small write that
    // the server reads in one go, as it does a rapid-reset burst.
    for (let i = 0; i < RESETS; i++) {
      const req = session.request({ ':path': `/reset/${i}` });
      req.on('error', () => undefined);
      req.close(http2.constants.NGHTTP2_CANCEL);
    }
    await resetsHandled;
    // A request after them on the same connection is proxied as usual.
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':path': '/after' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
    });
    assert.equal(status, 200);
    // The upstream saw /after; reset streams that slipped through (see below) may precede it.
    assert.deepEqual(paths.filter((p) => !p.startsWith('/reset/')), ['/after']);
    // Dispatched from within the read, every reset stream made an undici request (and a dial)
    // before its RST_STREAM was read: RESETS of them. A read boundary falling inside the burst
    // can let a few through; a tenth is far above that and far below the old behaviour.
    const reset = created.filter((p) => p.startsWith('/reset/')).length;
    assert.ok(reset < RESETS / 10, `${reset} of ${RESETS} reset streams became upstream requests`);
  } finally {
    diagnosticsChannel.unsubscribe('undici:request:create', onCreate);
    session.destroy();
    await new Promise((resolve) => server.close(resolve));
    await proxy.close();
    await up.close();
  }
});
