import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { UpstreamErrorEvent } from '../../../src/diagnostics.ts';
import { forwardOnce, UpstreamTimeoutError, type ProxyResponse } from '../../../src/proxy/upstream-request.ts';
import { reverseProxyDefaults } from '../../../src/config/defaults.ts';
import { echoUpstream, front, listen, parseEcho, proxyConfig, request, responseEnding, upstream } from './helpers.ts';

/** Loopback tests finish in well under a second; a hang should fail fast, not at the runner's limit. */
const E2E = { timeout: 15_000 };

const DEFAULT_TRANSPORT = reverseProxyDefaults([]).transport;

test('a slow client holds the upstream back instead of the proxy buffering the body', E2E, async () => {
  // Far more than the socket buffers of both hops can hold, so only back-pressure stops the upstream.
  const total = 64 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let written = 0;
  const up = await upstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
    const pump = (): void => {
      while (written < total) {
        written += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const fr = await front(proxyConfig([up.port]));
  try {
    const received = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: fr.port, agent: false }, (res) => {
          res.pause();
          setTimeout(() => {
            assert.ok(written < total / 2, `the upstream wrote ${written} bytes to a client that read none`);
            let bytes = 0;
            res.on('data', (c: Buffer) => (bytes += c.length));
            res.on('end', () => resolve(bytes));
            res.resume();
          }, 500);
          res.on('error', reject);
        })
        .on('error', reject);
    });
    assert.equal(received, total);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('a request body is streamed: the upstream sees its first part before the client sends the rest', E2E, async () => {
  let firstPartSeen: () => void = () => {};
  const seen = new Promise<void>((resolve) => (firstPartSeen = resolve));
  const up = await upstream((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.includes('first;')) firstPartSeen();
    });
    req.on('end', () => res.end(body));
  });
  const fr = await front(proxyConfig([up.port]));
  try {
    const response = new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: fr.port, method: 'POST', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.write('first;');
      void seen.then(() => req.end('second'));
    });
    assert.equal(await response, 'first;second');
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('a client that leaves mid-response aborts the upstream request', E2E, async () => {
  let upstreamClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
  const up = await upstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('start');
    res.once('close', upstreamClosed);
  });
  const fr = await front(proxyConfig([up.port]));
  try {
    const req = http.get({ host: '127.0.0.1', port: fr.port, agent: false }, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('error', () => {});
    const started = Date.now();
    await closed;
    assert.ok(Date.now() - started < 2_000);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('read_timeout alone bounds the wait for response headers: 504 with a read-phase timeout error', E2E, async () => {
  const up = await upstream(() => {
    /* never respond */
  });
  const events: UpstreamErrorEvent[] = [];
  const onEvent = (msg: unknown): void => void events.push(msg as UpstreamErrorEvent);
  diagnosticsChannel.subscribe('my-server:proxy:upstream-error', onEvent);
  const fr = await front(proxyConfig([up.port], { transport: { ...DEFAULT_TRANSPORT, readTimeoutMs: 200 } }));
  try {
    const res = await request(fr.port);
    assert.equal(res.status, 504);
    const error = events[0]?.error;
    assert.ok(error instanceof UpstreamTimeoutError);
    assert.equal(error.phase, 'read');
  } finally {
    diagnosticsChannel.unsubscribe('my-server:proxy:upstream-error', onEvent);
    await Promise.all([fr.close(), up.close()]);
  }
});

test('an upstream silent mid-body for read_timeout gets the client cut off, not a clean end', E2E, async () => {
  const up = await upstream((_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
  });
  const fr = await front(proxyConfig([up.port], { transport: { ...DEFAULT_TRANSPORT, readTimeoutMs: 200 } }));
  try {
    const started = Date.now();
    const outcome = await responseEnding(fr.port);
    assert.notEqual(outcome, 'clean end');
    assert.ok(Date.now() - started < 5_000);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('Expect: 100-continue is answered by the front server, and the body still reaches the upstream', E2E, async () => {
  const up = await echoUpstream('a');
  const fr = await front(proxyConfig([up.port]));
  try {
    const res = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: fr.port, method: 'POST', agent: false, headers: { expect: '100-continue', 'content-length': '4' } },
        (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (body += c));
          r.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.on('continue', () => req.end('data'));
    });
    const echo = parseEcho({ status: 200, headers: {}, body: res });
    assert.equal(echo.body, 'data');
    assert.equal(echo.headers.expect, undefined);
  } finally {
    await Promise.all([fr.close(), up.close()]);
  }
});

test('a dispatch that throws fails the attempt over HTTP/1.1 and HTTP/2 alike: no rejection, no uncaught exception', E2E, async () => {
  // HTTP/2 requests dispatch from setImmediate, where a throw would escape every caller.
  const broken = (): void => {
    throw new Error('no pool for this upstream');
  };
  const options = { dialTimeoutMs: 1_000, responseHeaders: (_s: number, h: http.IncomingHttpHeaders) => ({ ...h }), signal: new AbortController().signal };
  const describe = async (res: ProxyResponse): Promise<string> => {
    const result = await forwardOnce(res, broken, options);
    return result.kind === 'failed' ? `failed ${result.status} ${result.error.message}` : result.kind;
  };
  const h1 = await listen(
    http.createServer((_req, res) => void describe(res).then((text) => res.end(text))),
  );
  const h2 = http2.createServer((_req, res) => void describe(res).then((text) => res.end(text)));
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  const session = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
  try {
    assert.equal((await request(h1.port)).body, 'failed 502 no pool for this upstream');
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (text += d));
      req.on('end', () => resolve(text));
      req.on('error', reject);
    });
    assert.equal(body, 'failed 502 no pool for this upstream');
  } finally {
    session.destroy();
    await new Promise((resolve) => h2.close(resolve));
    await h1.close();
  }
});
