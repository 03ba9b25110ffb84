/**
 * request_buffers, response_buffers, stream_timeout, stream_close_delay and max_conns_per_host,
 * each against real upstreams and clients on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { echoUpstream, front, parseEcho, proxyConfig, request, upstream } from './helpers.ts';
import { wsEchoUpstream } from '../../helpers/ws-echo.ts';

const E2E = { timeout: 15_000 };

/** POST `chunks` with chunked framing (no Content-Length), each written separately. */
function postChunked(port: number, chunks: readonly string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

test('request_buffers: a body that ends within the buffer goes upstream with its Content-Length', E2E, async () => {
  const up = await echoUpstream('A');
  const small = await front(proxyConfig([up.port], { requestBuffers: 1024 }));
  const tight = await front(proxyConfig([up.port], { requestBuffers: 4 }));
  const unlimited = await front(proxyConfig([up.port], { requestBuffers: -1 }));
  const plain = await front(proxyConfig([up.port]));
  try {
    const whole = parseEcho({ ...(await postChunked(small.port, ['hello ', 'world'])), headers: {} });
    assert.equal(whole.body, 'hello world');
    assert.equal(whole.headers['content-length'], '11');
    assert.equal(whole.headers['transfer-encoding'], undefined);

    const partial = parseEcho({ ...(await postChunked(tight.port, ['hello ', 'world'])), headers: {} });
    assert.equal(partial.body, 'hello world', 'the buffered part and the rest, in order');
    assert.equal(partial.headers['content-length'], undefined, 'a body past the buffer is streamed on');
    assert.equal(partial.headers['transfer-encoding'], 'chunked');

    const big = 'x'.repeat(100_000);
    const all = parseEcho({ ...(await postChunked(unlimited.port, [big.slice(0, 50_000), big.slice(50_000)])), headers: {} });
    assert.equal(all.headers['content-length'], '100000', 'unlimited reads it all');
    assert.equal(all.body.length, 100_000);

    const streamed = parseEcho({ ...(await postChunked(plain.port, ['hello'])), headers: {} });
    assert.equal(streamed.headers['transfer-encoding'], 'chunked', 'without request_buffers, as before');
  } finally {
    await Promise.all([small.close(), tight.close(), unlimited.close(), plain.close()]);
    await up.close();
  }
});

/** An upstream that sends its head and `first`, then the rest only when release() is called. */
async function heldUpstream(first: string): Promise<{ port: number; release(rest: string): void; cut(): void; close(): Promise<void> }> {
  let held: http.ServerResponse | undefined;
  const ready = { resolve: (): void => {} };
  const sent = new Promise<void>((resolve) => (ready.resolve = resolve));
  const up = await upstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(first, () => ready.resolve());
    held = res;
  });
  return {
    port: up.port,
    release: (rest) => void sent.then(() => held?.end(rest)),
    cut: () => void sent.then(() => held?.socket?.destroy()),
    close: () => up.close(),
  };
}

test('response_buffers: the client sees nothing until the buffer fills or the body ends', E2E, async () => {
  const up = await heldUpstream('early');
  const fr = await front(proxyConfig([up.port], { responseBuffers: 1024 }));
  try {
    let headersAt = 0;
    let released = 0;
    const res = new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: fr.port, agent: false }, (r) => {
          headersAt = Date.now();
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (body += c));
          r.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    // Without buffering the head and "early" would arrive at once (the next test shows it); here
    // they must wait for the rest. The wait is the behaviour under test: nothing announces "not yet".
    await sleep(300);
    released = Date.now();
    up.release(' and late');
    assert.equal(await res, 'early and late');
    assert.ok(headersAt >= released, 'the head went out only after the body ended');
  } finally {
    await fr.close();
    await up.close();
  }
});

test('without response_buffers the head and the first bytes arrive before the body ends', E2E, async () => {
  const up = await heldUpstream('early');
  const fr = await front(proxyConfig([up.port]));
  try {
    const first = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: fr.port, agent: false }, (r) => {
          r.setEncoding('utf8');
          r.once('data', (c: string) => resolve(c));
        })
        .on('error', reject);
    });
    assert.equal(first, 'early');
    up.release('!');
  } finally {
    await fr.close();
    await up.close();
  }
});

test('response_buffers: an upstream that fails within the buffer gets the client a 502, not a cut 200', E2E, async () => {
  const up = await heldUpstream('partial');
  const fr = await front(proxyConfig([up.port], { responseBuffers: 1024 }));
  try {
    const pending = request(fr.port);
    up.cut();
    const res = await pending;
    assert.equal(res.status, 502);
  } finally {
    await fr.close();
    await up.close();
  }
});

async function openWs(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error('websocket failed to open')), { once: true });
  });
  return ws;
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.addEventListener('message', (ev: MessageEvent) => resolve(String(ev.data)), { once: true });
    ws.addEventListener('close', () => reject(new Error('closed')), { once: true });
    ws.send(text);
  });
}

test('stream_timeout closes a WebSocket that long after the upgrade, busy or not', E2E, async () => {
  const up = await wsEchoUpstream();
  const fr = await front(proxyConfig([up.port], { streamTimeoutMs: 400 }));
  try {
    const opened = Date.now();
    const ws = await openWs(fr.port);
    const closed = once(ws, 'close');
    assert.equal(await echo(ws, 'hi'), 'hi');
    await closed;
    assert.ok(Date.now() - opened >= 350, `closed after ${Date.now() - opened} ms`);
  } finally {
    await fr.close();
    await up.close();
  }
});

test('stream_close_delay: after close() a WebSocket keeps echoing until the delay, then is closed', E2E, async () => {
  const up = await wsEchoUpstream();
  const fr = await front(proxyConfig([up.port], { streamCloseDelayMs: 500 }));
  try {
    const ws = await openWs(fr.port);
    const closed = once(ws, 'close');
    const unloaded = Date.now();
    await fr.proxy.close();
    assert.equal(await echo(ws, 'still here'), 'still here', 'kept across the unload');
    await closed;
    assert.ok(Date.now() - unloaded >= 450, `closed ${Date.now() - unloaded} ms after close()`);
  } finally {
    await fr.close();
    await up.close();
  }
});

test('without stream_close_delay a WebSocket outlives close(), as before; with 0 it is closed at once', E2E, async () => {
  const up = await wsEchoUpstream();
  const keep = await front(proxyConfig([up.port]));
  const zero = await front(proxyConfig([up.port], { streamCloseDelayMs: 0 }));
  try {
    const kept = await openWs(keep.port);
    await keep.proxy.close();
    assert.equal(await echo(kept, 'kept'), 'kept');
    kept.close();

    const cut = await openWs(zero.port);
    const closed = once(cut, 'close');
    await zero.proxy.close();
    await closed;
  } finally {
    await Promise.all([keep.close(), zero.close()]);
    await up.close();
  }
});

/** An SSE upstream that sends `tick N` every 50 ms until the client goes. */
async function sseUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  return upstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let n = 0;
    const timer = setInterval(() => res.write(`data: tick ${++n}\n\n`), 50);
    res.on('close', () => clearInterval(timer));
  });
}

/** Opens the event stream; `events` grows as they arrive, `ended` resolves when the stream stops. */
function openSse(port: number): Promise<{ events: string[]; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, agent: false }, (res) => {
        const events: string[] = [];
        const ended = new Promise<void>((done) => {
          res.on('close', () => done());
          res.on('error', () => done());
        });
        res.setEncoding('utf8');
        res.on('data', (c: string) => events.push(c));
        res.once('data', () => resolve({ events, ended }));
      })
      .on('error', reject);
  });
}

test('stream_close_delay keeps an SSE response flowing after close() until the delay; without it close() cuts it', E2E, async () => {
  const up = await sseUpstream();
  const delayed = await front(proxyConfig([up.port], { streamCloseDelayMs: 500 }));
  const plain = await front(proxyConfig([up.port]));
  try {
    const kept = await openSse(delayed.port);
    const unloaded = Date.now();
    await delayed.proxy.close();
    const before = kept.events.length;
    await kept.ended;
    assert.ok(Date.now() - unloaded >= 450, `cut ${Date.now() - unloaded} ms after close()`);
    assert.ok(kept.events.length >= before + 3, `events kept coming after close(): ${before} then ${kept.events.length}`);

    const cut = await openSse(plain.port);
    const closedAt = Date.now();
    await plain.proxy.close();
    await cut.ended;
    assert.ok(Date.now() - closedAt < 400, 'cut at once, as before');
  } finally {
    await Promise.all([delayed.close(), plain.close()]);
    await up.close();
  }
});

test('max_conns_per_host 1 queues the second request on the one connection; no limit by default', E2E, async () => {
  let connections = 0;
  const held: http.ServerResponse[] = [];
  let arrived = (): void => {};
  const up = await upstream((_req, res) => {
    held.push(res);
    arrived();
  });
  up.server.on('connection', () => connections++);
  const limited = await front(proxyConfig([up.port], { transport: { ...proxyConfig([]).transport, maxConnsPerHost: 1 } }));
  const unlimited = await front(proxyConfig([up.port]));
  const waitHeld = (n: number): Promise<void> =>
    new Promise((resolve) => {
      arrived = () => held.length >= n && resolve();
      arrived();
    });
  try {
    const a = request(limited.port);
    const b = request(limited.port);
    await waitHeld(1);
    await sleep(200);
    assert.equal(held.length, 1, 'the second request waits for the connection');
    held.shift()!.end('one');
    await waitHeld(1);
    held.shift()!.end('two');
    assert.deepEqual([(await a).body, (await b).body].sort(), ['one', 'two']);
    assert.equal(connections, 1);

    connections = 0;
    const c = request(unlimited.port);
    const d = request(unlimited.port);
    await waitHeld(2);
    assert.equal(connections, 2, 'both at once on two connections');
    for (const r of held.splice(0)) r.end('x');
    await Promise.all([c, d]);
  } finally {
    for (const r of held.splice(0)) r.end();
    await Promise.all([limited.close(), unlimited.close()]);
    await up.close();
  }
});
