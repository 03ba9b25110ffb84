/**
 * The one response wrapper (src/http/response-hooks.ts), on real HTTP/1.1 and HTTP/2 servers: the
 * order hooks run in, and encode + header operations + the byte counter together, which used to be
 * three patches of the response whose result depended on the order they were installed in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { countBodyBytes, responseHooks } from '../../../src/http/response-hooks.ts';
import { encodeResponse } from '../../../src/routes/encode.ts';
import { applyResponseHeaderOps } from '../../../src/routes/header-ops.ts';
import type { RequestContext } from '../../../src/routes/context.ts';

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;
type Handler = (req: Req, res: Res) => void | Promise<void>;

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** Serves `handler` over HTTP/1.1 or HTTP/2 (cleartext) and makes one GET with `headers`. */
async function exchange(protocol: 'h1' | 'h2', handler: Handler, headers: Record<string, string> = {}): Promise<Reply> {
  const run = (req: Req, res: Res): void => void Promise.resolve(handler(req, res)).catch((err: unknown) => res.destroy(err as Error));
  const server = protocol === 'h1' ? http.createServer(run) : http2.createServer(run);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    if (protocol === 'h1') {
      return await new Promise<Reply>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', headers, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          })
          .on('error', reject);
      });
    }
    const client = http2.connect(`http://127.0.0.1:${port}`);
    try {
      return await new Promise<Reply>((resolve, reject) => {
        const req = client.request({ ':path': '/', ...headers });
        let head: http2.IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        req.on('response', (h) => (head = h));
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
        req.on('error', reject);
        req.end();
      });
    } finally {
      client.close();
    }
  } finally {
    if (server instanceof http.Server) server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const ctxOf = (): RequestContext => ({ scheme: 'http', remoteAddress: '127.0.0.1', host: 'a.test', path: '/', query: '' });
const text = 'The quick brown fox jumps over the lazy dog. '.repeat(200);

for (const protocol of ['h1', 'h2'] as const) {
  test(`${protocol}: head hooks run once, the one added last first, before the head goes out`, async () => {
    const order: string[] = [];
    const r = await exchange(protocol, (_req, res) => {
      const hooks = responseHooks(res);
      hooks.onHead(() => {
        order.push('first added');
        res.setHeader('x-seen-status', String(res.statusCode));
      });
      hooks.onHead(() => {
        order.push('last added');
        res.statusCode = 201;
      });
      res.setHeader('content-type', 'text/plain');
      const h1 = res as ServerResponse; // the same calls on both classes; one type for tsc
      h1.write('a');
      h1.write('b');
      h1.end('c');
    });
    assert.deepEqual(order, ['last added', 'first added']);
    assert.equal(r.status, 201);
    assert.equal(r.headers['x-seen-status'], '201', 'the hook added first sees what the later one did');
    assert.equal(r.body.toString(), 'abc');
  });

  test(`${protocol}: encode, header operations and the byte counter together, whatever the writer does`, async () => {
    const writers: Record<string, (res: Res) => Promise<void> | void> = {
      'end(body)': (res) => void res.end(text),
      'writeHead(status, headers) + write + end': (res) => {
        const h1 = res as ServerResponse;
        h1.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
        h1.write(text.slice(0, 1000));
        h1.end(text.slice(1000));
      },
      'a piped stream': async (res) => {
        await pipeline(Readable.from([Buffer.from(text.slice(0, 4000)), Buffer.from(text.slice(4000))]), res as NodeJS.WritableStream);
      },
    };
    for (const [name, write] of Object.entries(writers)) {
      let sent: (() => number) | undefined;
      const r = await exchange(
        protocol,
        async (req, res) => {
          // The order a request meets them in: the request handler's counter, then the site's
          // `header`, then its `encode` (Caddy's directive order).
          sent = countBodyBytes(res);
          responseHooks(res).onHead(() =>
            applyResponseHeaderOps(res, [{ op: 'set', name: 'X-Site', value: '{host}' }, { op: 'delete', name: 'X-Upstream' }], req, ctxOf()),
          );
          encodeResponse(req, res, ['gzip']);
          if (!res.hasHeader('content-type')) res.setHeader('content-type', 'text/plain');
          await write(res);
        },
        { 'accept-encoding': 'gzip' },
      );
      assert.equal(r.status, 200, name);
      assert.equal(r.headers['content-encoding'], 'gzip', name);
      assert.equal(r.headers['x-site'], 'a.test', name);
      assert.equal(r.headers['x-upstream'], undefined, name);
      assert.equal(zlib.gunzipSync(r.body).toString(), text, name);
      assert.equal(sent?.(), r.body.length, `${name}: the counter saw the compressed bytes`);
    }
  });

  test(`${protocol}: a body handed to end() goes out as it was and is counted once (HTTP/2 end() writes through write())`, async () => {
    let sent: (() => number) | undefined;
    const r = await exchange(protocol, (_req, res) => {
      sent = countBodyBytes(res);
      res.end('hello, world');
    });
    // Node's HTTP/2 compatibility API sends no Content-Length for end(body), hooked or not.
    if (protocol === 'h1') assert.equal(r.headers['content-length'], '12');
    assert.equal(r.body.toString(), 'hello, world');
    assert.equal(sent?.(), 12);
  });
}

test('write and end callbacks are called, also when a hook holds the chunks (a compressor)', async () => {
  const called: string[] = [];
  const r = await exchange(
    'h1',
    (req, res) => {
      encodeResponse(req, res, ['gzip']);
      res.setHeader('content-type', 'text/plain');
      (res as ServerResponse).write(text, () => called.push('write'));
      res.end(() => called.push('end'));
    },
    { 'accept-encoding': 'gzip' },
  );
  assert.equal(zlib.gunzipSync(r.body).toString(), text);
  assert.deepEqual(called, ['write', 'end']);
});

test('headers given to writeHead as a flat list keep every value of a repeated name', async () => {
  const r = await exchange('h1', (_req, res) => {
    responseHooks(res).onHead(() => res.setHeader('x-hooked', '1'));
    (res as ServerResponse).writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-One', 'v']);
    res.end();
  });
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(r.headers['x-one'], 'v');
  assert.equal(r.headers['x-hooked'], '1');
});
