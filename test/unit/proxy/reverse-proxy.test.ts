import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { UpstreamErrorEvent } from '../../../src/diagnostics.ts';
import { ReverseProxy } from '../../../src/proxy/reverse-proxy.ts';
import { closedPort, echoUpstream, front, listen, parseEcho, proxyConfig, request, upstream, type Running } from './helpers.ts';

/** Loopback tests finish in well under a second; a hang should fail fast, not at the runner's limit. */
const E2E = { timeout: 15_000 };

/** Collect my-server:proxy:upstream-error events while `fn` runs. */
async function withUpstreamErrors<T>(fn: (events: UpstreamErrorEvent[]) => Promise<T>): Promise<T> {
  const events: UpstreamErrorEvent[] = [];
  const onEvent = (msg: unknown): void => {
    events.push(msg as UpstreamErrorEvent);
  };
  diagnosticsChannel.subscribe('my-server:proxy:upstream-error', onEvent);
  try {
    return await fn(events);
  } finally {
    diagnosticsChannel.unsubscribe('my-server:proxy:upstream-error', onEvent);
  }
}

/** The next my-server:proxy:upstream-error event (rejects after 5 s). */
function firstUpstreamError(): Promise<UpstreamErrorEvent> {
  return new Promise((resolve, reject) => {
    const onEvent = (msg: unknown): void => {
      done();
      resolve(msg as UpstreamErrorEvent);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error('no upstream-error event within 5 s'));
    }, 5_000);
    const done = (): void => {
      clearTimeout(timer);
      diagnosticsChannel.unsubscribe('my-server:proxy:upstream-error', onEvent);
    };
    diagnosticsChannel.subscribe('my-server:proxy:upstream-error', onEvent);
  });
}

async function closeAll(...servers: (Running | undefined)[]): Promise<void> {
  await Promise.all(servers.map((s) => s?.close() ?? Promise.resolve()));
}

test('a request reaches the upstream with the original Host and X-Forwarded-* set by the proxy', E2E, async () => {
  const up = await echoUpstream('a');
  const fr = await front(proxyConfig([up.port]));
  try {
    const res = await request(fr.port, {
      method: 'POST',
      path: '/submit?x=1',
      headers: {
        host: 'site.example',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil.example',
        connection: 'keep-alive, x-hop',
        'x-hop': 'gone',
        'content-type': 'text/plain',
      },
      body: 'payload',
    });
    assert.equal(res.status, 200);
    const echo = parseEcho(res);
    assert.equal(echo.method, 'POST');
    assert.equal(echo.url, '/submit?x=1');
    assert.equal(echo.body, 'payload');
    assert.equal(echo.headers.host, 'site.example');
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-host'], 'site.example');
    assert.equal(echo.headers['x-hop'], undefined);
    assert.equal(res.headers['x-upstream'], 'a');
  } finally {
    await closeAll(fr, up);
  }
});

test("a client's Forwarded header does not reach the upstream (issue 7: it passed through untouched)", E2E, async () => {
  const up = await echoUpstream('a');
  const fr = await front(proxyConfig([up.port]));
  try {
    const res = await request(fr.port, {
      headers: { host: 'site.example', forwarded: 'for=6.6.6.6;proto=https;host=evil.example', 'x-forwarded-proto': 'https' },
    });
    const echo = parseEcho(res);
    assert.equal(echo.headers['forwarded'], undefined);
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
  } finally {
    await closeAll(fr, up);
  }
});

test('from a trusted proxy (ProxyContext.trustedPeer) Forwarded reaches the upstream and X-Forwarded-For is extended', E2E, async () => {
  const up = await echoUpstream('a');
  const proxy = new ReverseProxy(proxyConfig([up.port]));
  const fr = await listen(
    http.createServer((req, res) => void proxy.handle(req, res, { scheme: 'https', remoteAddress: '::ffff:10.0.0.2', trustedPeer: true })),
  );
  try {
    const res = await request(fr.port, { headers: { forwarded: 'for=198.51.100.7', 'x-forwarded-for': '198.51.100.7' } });
    const echo = parseEcho(res);
    assert.equal(echo.headers['forwarded'], 'for=198.51.100.7');
    assert.equal(echo.headers['x-forwarded-for'], '198.51.100.7, 10.0.0.2');
  } finally {
    await fr.close();
    await Promise.all([proxy.close(), up.close()]);
  }
});

test('a body without Content-Length is re-framed for the upstream, even on DELETE', E2E, async () => {
  const up = await echoUpstream('a');
  const fr = await front(proxyConfig([up.port]));
  try {
    const res = await request(fr.port, { method: 'DELETE', headers: { 'transfer-encoding': 'chunked' }, body: 'chunked body' });
    assert.equal(parseEcho(res).body, 'chunked body');
    assert.equal(parseEcho(res).headers['transfer-encoding'], 'chunked');
  } finally {
    await closeAll(fr, up);
  }
});

test('header_up and header_down are applied', E2E, async () => {
  const up = await upstream((req, res) => {
    res.writeHead(200, { server: 'secret-stack', 'x-seen': String(req.headers['x-tenant']) });
    res.end();
  });
  const fr = await front(
    proxyConfig([up.port], {
      headerUp: [{ op: 'set', name: 'X-Tenant', value: '{host}' }],
      headerDown: [
        { op: 'delete', name: 'Server' },
        { op: 'add', name: 'X-Proxied', value: 'yes' },
      ],
    }),
  );
  try {
    const res = await request(fr.port, { headers: { host: 'tenant1.example:8080' } });
    assert.equal(res.headers['x-seen'], 'tenant1.example');
    assert.equal(res.headers['server'], undefined);
    assert.equal(res.headers['x-proxied'], 'yes');
  } finally {
    await closeAll(fr, up);
  }
});

test('an upstream whose port is closed gives 502 with a short plain-text body, and an event naming it', E2E, async () => {
  const port = await closedPort();
  const fr = await front(proxyConfig([port]));
  try {
    await withUpstreamErrors(async (events) => {
      const res = await request(fr.port);
      assert.equal(res.status, 502);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      assert.equal(res.body, '502 Bad Gateway: upstream unreachable\n');
      assert.equal(events.length, 1);
      assert.equal(events[0]?.upstream, `127.0.0.1:${port}`);
      assert.equal(events[0]?.status, 502);
      assert.equal((events[0]?.error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    });
  } finally {
    await fr.close();
  }
});

test('an upstream that never answers gives 504 after response_header_timeout', E2E, async () => {
  const up = await upstream(() => {
    /* never respond */
  });
  const config = proxyConfig([up.port]);
  const fr = await front({ ...config, transport: { ...config.transport, responseHeaderTimeoutMs: 200 } });
  try {
    await withUpstreamErrors(async (events) => {
      const started = Date.now();
      const res = await request(fr.port);
      assert.equal(res.status, 504);
      assert.equal(res.body, '504 Gateway Timeout: upstream timed out\n');
      assert.ok(Date.now() - started >= 190);
      assert.equal(events[0]?.status, 504);
      assert.equal(events[0]?.upstream, `127.0.0.1:${up.port}`);
    });
  } finally {
    await closeAll(fr, up);
  }
});

test('a TLS upstream that accepts TCP but never completes the handshake gives 504 after dial_timeout', E2E, async () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as net.AddressInfo).port;
  const config = proxyConfig([], { upstreams: [{ scheme: 'https', host: '127.0.0.1', port }] });
  const fr = await front({ ...config, transport: { ...config.transport, dialTimeoutMs: 200 } });
  try {
    const res = await request(fr.port);
    assert.equal(res.status, 504);
  } finally {
    await fr.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('a request that could not connect is retried on the healthy second upstream, body intact', E2E, async () => {
  const dead = await closedPort();
  const up = await echoUpstream('b');
  const fr = await front(proxyConfig([dead, up.port], { lb: { policy: 'first', retries: 1, tryIntervalMs: 10 } }));
  try {
    await withUpstreamErrors(async (events) => {
      const res = await request(fr.port, { method: 'PUT', body: 'keep me' });
      assert.equal(res.status, 200);
      assert.equal(parseEcho(res).name, 'b');
      assert.equal(parseEcho(res).body, 'keep me');
      assert.equal(events.length, 1);
      assert.equal(events[0]?.retrying, true);
    });
  } finally {
    await closeAll(fr, up);
  }
});

test('without lb_retries or lb_try_duration a failed attempt is not retried', E2E, async () => {
  const dead = await closedPort();
  const up = await echoUpstream('b');
  const fr = await front(proxyConfig([dead, up.port], { lb: { policy: 'first' } }));
  try {
    assert.equal((await request(fr.port)).status, 502);
  } finally {
    await closeAll(fr, up);
  }
});

test('a request the upstream received is not retried, even with retries configured', E2E, async () => {
  let secondHits = 0;
  const resetter = await upstream((req) => req.socket.destroy());
  const second = await upstream((_req, res) => {
    secondHits++;
    res.end('second');
  });
  const fr = await front(proxyConfig([resetter.port, second.port], { lb: { policy: 'first', retries: 3, tryIntervalMs: 10 } }));
  try {
    const res = await request(fr.port);
    assert.equal(res.status, 502);
    assert.equal(res.body, '502 Bad Gateway: upstream failed\n');
    assert.equal(secondHits, 0);
  } finally {
    await closeAll(fr, resetter, second);
  }
});

test('lb_try_duration keeps trying until an upstream comes up', E2E, async () => {
  const port = await closedPort();
  const fr = await front(proxyConfig([port], { lb: { tryDurationMs: 5_000, tryIntervalMs: 50 } }));
  let up: Running | undefined;
  try {
    // The upstream comes up only after an attempt has failed and another is due, so the answer
    // below proves the retry loop, not a lucky first try.
    const failedOnce = firstUpstreamError();
    const pending = request(fr.port);
    assert.equal((await failedOnce).retrying, true);
    up = await echoUpstream('late', port);
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(parseEcho(res).name, 'late');
  } finally {
    await closeAll(fr, up);
  }
});

// unhealthy_status takes codes and classes, as written in the Proxyfile: the proxy reads the list as is.
for (const unhealthyStatus of [[503], ['5xx' as const], [404, '5xx' as const]]) {
  test(`passive health: an unhealthy_status ${JSON.stringify(unhealthyStatus)} response marks the upstream down for fail_duration`, E2E, async () => {
    let aHits = 0;
    const a = await upstream((_req, res) => {
      aHits++;
      res.writeHead(503).end('a is sick');
    });
    const b = await echoUpstream('b');
    const fr = await front(
      proxyConfig([a.port, b.port], {
        lb: { policy: 'first' },
        passive: { failDurationMs: 60_000, maxFails: 1, unhealthyStatus },
      }),
    );
    try {
      const first = await request(fr.port);
      assert.equal(first.status, 503, 'the upstream response itself is still relayed');
      assert.equal(first.body, 'a is sick');
      const second = await request(fr.port);
      assert.equal(parseEcho(second).name, 'b');
      assert.equal(aHits, 1);
      assert.equal(fr.proxy.upstreams[0]?.healthy(), false);
    } finally {
      await closeAll(fr, a, b);
    }
  });
}

test('when every upstream is down the client gets 503', E2E, async () => {
  const port = await closedPort();
  const fr = await front(proxyConfig([port], { passive: { failDurationMs: 60_000, maxFails: 1, unhealthyStatus: [] } }));
  try {
    assert.equal((await request(fr.port)).status, 502);
    const res = await request(fr.port);
    assert.equal(res.status, 503);
    assert.equal(res.body, '503 Service Unavailable: no upstream available\n');
  } finally {
    await fr.close();
  }
});

test('least_conn counts a request as in flight until its response ends', E2E, async () => {
  const held: (() => void)[] = [];
  let arrived: () => void = () => undefined;
  const slowArrived = new Promise<void>((resolve) => (arrived = resolve));
  const slow = await upstream((_req, res) => {
    held.push(() => res.end('slow'));
    arrived();
  });
  const fast = await echoUpstream('fast');
  const fr = await front(proxyConfig([slow.port, fast.port], { lb: { policy: 'least_conn' } }));
  try {
    // Pin the first request to `slow` by making `fast` look busy, then let it go.
    fr.proxy.upstreams[1]?.acquire();
    const pending = request(fr.port);
    await slowArrived;
    fr.proxy.upstreams[1]?.release();
    assert.equal(fr.proxy.upstreams[0]?.inFlight(), 1);
    for (let i = 0; i < 3; i++) assert.equal(parseEcho(await request(fr.port)).name, 'fast');
    held[0]?.();
    assert.equal((await pending).body, 'slow');
    assert.equal(fr.proxy.upstreams[0]?.inFlight(), 0);
  } finally {
    await closeAll(fr, slow, fast);
  }
});

test('sequential requests reuse one keep-alive connection to the upstream', E2E, async () => {
  let connections = 0;
  const up = await echoUpstream('a');
  up.server.on('connection', () => connections++);
  const fr = await front(proxyConfig([up.port]));
  try {
    for (let i = 0; i < 5; i++) assert.equal((await request(fr.port)).status, 200);
    assert.equal(connections, 1);
  } finally {
    await closeAll(fr, up);
  }
});

test('without a context signal, a client that leaves during the retry loop ends it', E2E, async () => {
  const fr = await signalledFront(await closedPort(), undefined);
  try {
    const req = http.get({ host: '127.0.0.1', port: fr.port, agent: false });
    req.on('error', () => {});
    await fr.handling;
    // Let the first attempt fail, so the loop is sleeping between retries.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    req.destroy();
    await fr.handled();
    assert.ok(Date.now() - started < 2_000, 'not after lb_try_duration (10 s)');
  } finally {
    await fr.close();
  }
});

test('without a context signal, a client that leaves before the upstream answers aborts the upstream request', E2E, async () => {
  let upstreamGone: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (upstreamGone = resolve));
  let reached: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  // Never answers; tells when the proxy gives up on its request.
  const up = await listen(
    http.createServer((req) => {
      req.socket.once('close', () => upstreamGone());
      reached();
    }),
  );
  const fr = await signalledFront(up.port, undefined);
  try {
    const req = http.get({ host: '127.0.0.1', port: fr.port, agent: false });
    req.on('error', () => {});
    await arrived;
    req.destroy();
    await closed;
    await fr.handled();
  } finally {
    await fr.close();
    await up.close();
  }
});

/**
 * A front whose handler passes `signal` and exposes the promise of the last handle() call;
 * `handling` resolves when the first request reaches handle().
 */
async function signalledFront(port: number, signal: AbortSignal | undefined): Promise<Running & { handled: () => Promise<void> | undefined; handling: Promise<void> }> {
  const proxy = new ReverseProxy(proxyConfig([port], { lb: { tryDurationMs: 10_000, tryIntervalMs: 50 } }));
  let last: Promise<void> | undefined;
  let started: () => void = () => undefined;
  const handling = new Promise<void>((resolve) => (started = resolve));
  const running = await listen(
    http.createServer((req, res) => {
      last = proxy.handle(req, res, { scheme: 'http', remoteAddress: req.socket.remoteAddress ?? '', ...(signal ? { signal } : {}) });
      started();
    }),
  );
  return {
    ...running,
    handling,
    handled: () => last,
    close: async () => {
      await running.close();
      await proxy.close();
    },
  };
}

test('aborting the context signal ends the retry loop at once with the last error', E2E, async () => {
  const abort = new AbortController();
  const fr = await signalledFront(await closedPort(), abort.signal);
  try {
    const started = Date.now();
    setTimeout(() => abort.abort(), 200);
    const res = await request(fr.port);
    assert.equal(res.status, 502);
    assert.ok(Date.now() - started < 2_000, 'not after lb_try_duration');
    await fr.handled();
  } finally {
    await fr.close();
  }
});

test('a client that leaves during the retry loop ends it', E2E, async () => {
  const fr = await signalledFront(await closedPort(), new AbortController().signal);
  try {
    const req = http.get({ host: '127.0.0.1', port: fr.port, agent: false });
    req.on('error', () => {});
    await fr.handling;
    const started = Date.now();
    req.destroy();
    await fr.handled();
    assert.ok(Date.now() - started < 2_000);
  } finally {
    await fr.close();
  }
});
