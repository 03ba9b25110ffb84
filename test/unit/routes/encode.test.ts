import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { encodeResponse, negotiateEncoding, type Encoding } from '../../../src/routes/encode.ts';
import { get, serve, serveSites } from './serve.ts';

test('negotiateEncoding: table of Accept-Encoding headers', () => {
  const both: Encoding[] = ['zstd', 'gzip'];
  const cases: { accept: string | undefined; offered?: Encoding[]; want: Encoding | undefined }[] = [
    { accept: undefined, want: undefined },
    { accept: '', want: undefined },
    { accept: 'identity', want: undefined },
    { accept: 'br', want: undefined },
    { accept: 'gzip', want: 'gzip' },
    { accept: 'GZIP', want: 'gzip' },
    { accept: 'gzip, deflate, br', want: 'gzip' },
    { accept: 'zstd', want: 'zstd' },
    // The server's order of preference decides among acceptable encodings.
    { accept: 'gzip, zstd', want: 'zstd' },
    { accept: 'gzip, zstd', offered: ['gzip', 'zstd'], want: 'gzip' },
    { accept: 'gzip;q=1, zstd;q=0.5', want: 'zstd' },
    // q=0 means "not acceptable".
    { accept: 'zstd;q=0, gzip', want: 'gzip' },
    { accept: 'zstd; q=0.0, gzip;q=0.8', want: 'gzip' },
    { accept: 'gzip;q=0', want: undefined },
    { accept: 'gzip;q=0.000', want: undefined },
    { accept: 'gzip;q=0.001', want: 'gzip' },
    { accept: 'gzip;q=abc', want: undefined },
    { accept: 'gzip;level=9', want: 'gzip' },
    // `*` stands for any encoding not listed; a listed one keeps its own q.
    { accept: '*', want: 'zstd' },
    { accept: '*;q=0', want: undefined },
    { accept: '*;q=0, gzip', want: 'gzip' },
    { accept: 'zstd;q=0, *', want: 'gzip' },
    { accept: 'gzip;q=0, *', offered: ['gzip'], want: undefined },
    { accept: ' , ,gzip , ', want: 'gzip' },
  ];
  for (const { accept, offered, want } of cases) {
    assert.equal(negotiateEncoding(accept, offered ?? both), want, `${JSON.stringify(accept)} offered ${JSON.stringify(offered ?? both)}`);
  }
});

const text2k = 'The quick brown fox jumps over the lazy dog. '.repeat(46).slice(0, 2048);

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function withEncoding(encodings: Encoding[], handler: Handler, fn: (port: number) => Promise<void>): Promise<void> {
  const s = await serve((req, res) => {
    encodeResponse(req, res, encodings);
    handler(req, res);
  });
  try {
    await fn(s.port);
  } finally {
    await s.close();
  }
}

const sendText = (body: string, type = 'text/plain; charset=utf-8'): Handler => (_req, res) => {
  res.setHeader('content-type', type);
  res.end(body);
};

test('a 2 KiB text body is gzipped for a client that accepts gzip', async () => {
  await withEncoding(['zstd', 'gzip'], sendText(text2k), async (port) => {
    const r = await get(port, '/', { 'accept-encoding': 'gzip' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['content-length'], undefined);
    assert.match(String(r.headers['vary']), /Accept-Encoding/i);
    assert.ok(r.body.length < text2k.length);
    assert.equal(zlib.gunzipSync(r.body).toString(), text2k);
  });
});

test('zstd is used when the server prefers it and the client accepts it', async () => {
  await withEncoding(['zstd', 'gzip'], sendText(text2k), async (port) => {
    const r = await get(port, '/', { 'accept-encoding': 'gzip, zstd' });
    assert.equal(r.headers['content-encoding'], 'zstd');
    assert.equal(zlib.zstdDecompressSync(r.body).toString(), text2k);
  });
});

test('a 100-byte body is sent as is, with its length', async () => {
  const body = 'x'.repeat(100);
  await withEncoding(['gzip'], sendText(body), async (port) => {
    const r = await get(port, '/', { 'accept-encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers['content-length'], '100');
    assert.equal(r.body.toString(), body);
  });
});

test('already compressed types (image/png) and event streams are not encoded', async () => {
  for (const type of ['image/png', 'text/event-stream', 'application/zip', 'video/mp4']) {
    await withEncoding(['gzip'], sendText(text2k, type), async (port) => {
      const r = await get(port, '/', { 'accept-encoding': 'gzip' });
      assert.equal(r.headers['content-encoding'], undefined, type);
      assert.equal(r.body.toString(), text2k, type);
    });
  }
});

test('an SVG image is text and is encoded', async () => {
  await withEncoding(['gzip'], sendText(text2k, 'image/svg+xml'), async (port) => {
    const r = await get(port, '/', { 'accept-encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
  });
});

test('an event stream written in pieces reaches the client unencoded, each event as it is written', async () => {
  let sendSecond!: () => void;
  const second = new Promise<void>((resolve) => (sendSecond = resolve));
  await withEncoding(
    ['gzip'],
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${'a'.repeat(600)}\n\n`);
      void second.then(() => res.end('data: b\n\n'));
    },
    async (port) => {
      const firstEvent = await new Promise<{ encoding: string | undefined; chunk: string; rest: Promise<string> }>((resolve, reject) => {
        // An encoder would hold the first event back until the end, which never comes without sendSecond().
        const timer = setTimeout(() => reject(new Error('the first event did not arrive on its own')), 2_000);
        const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
          res.setEncoding('utf8');
          let all = '';
          const rest = new Promise<string>((done) => res.on('end', () => done(all)));
          res.once('data', (c: string) => {
            clearTimeout(timer);
            all += c;
            res.on('data', (more: string) => (all += more));
            resolve({ encoding: res.headers['content-encoding'], chunk: c, rest });
          });
        });
        req.on('error', reject);
      });
      assert.equal(firstEvent.encoding, undefined);
      assert.match(firstEvent.chunk, /^data: a+\n\n$/);
      sendSecond();
      assert.match(await firstEvent.rest, /data: b\n\n$/);
    },
  );
});

test('a body streamed with write() and no length is encoded', async () => {
  await withEncoding(
    ['gzip'],
    (_req, res) => {
      res.setHeader('content-type', 'application/json');
      for (let i = 0; i < 8; i++) res.write(text2k.slice(i * 256, (i + 1) * 256));
      res.end();
    },
    async (port) => {
      const r = await get(port, '/', { 'accept-encoding': 'gzip' });
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.equal(zlib.gunzipSync(r.body).toString(), text2k);
    },
  );
});

test('headers passed to writeHead decide too: image/png given there is not encoded', async () => {
  await withEncoding(
    ['gzip'],
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(text2k);
    },
    async (port) => {
      const r = await get(port, '/', { 'accept-encoding': 'gzip' });
      assert.equal(r.headers['content-encoding'], undefined);
      assert.equal(r.headers['content-type'], 'image/png');
      assert.equal(r.body.toString(), text2k);
    },
  );
});

test('no encoding without Accept-Encoding, for HEAD, for 204 and 304, or when already encoded', async () => {
  await withEncoding(['gzip'], sendText(text2k), async (port) => {
    const plain = await get(port, '/');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), text2k);
    assert.match(String(plain.headers['vary']), /Accept-Encoding/i, 'Vary even when not encoding, for caches');
    const head = await get(port, '/', { 'accept-encoding': 'gzip' }, 'HEAD');
    assert.equal(head.headers['content-encoding'], undefined);
  });
  for (const status of [204, 304]) {
    await withEncoding(
      ['gzip'],
      (_req, res) => {
        res.statusCode = status;
        res.setHeader('content-type', 'text/plain');
        res.end();
      },
      async (port) => {
        const r = await get(port, '/', { 'accept-encoding': 'gzip' });
        assert.equal(r.status, status);
        assert.equal(r.headers['content-encoding'], undefined);
      },
    );
  }
  const gz = zlib.gzipSync(text2k);
  await withEncoding(
    ['gzip', 'zstd'],
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
      res.end(gz);
    },
    async (port) => {
      const r = await get(port, '/', { 'accept-encoding': 'zstd, gzip' });
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.equal(zlib.gunzipSync(r.body).toString(), text2k, 'not compressed twice');
    },
  );
});

test('a strong ETag becomes weak when the body is encoded', async () => {
  await withEncoding(
    ['gzip'],
    (_req, res) => {
      res.setHeader('etag', '"abc"');
      res.setHeader('content-type', 'text/plain');
      res.end(text2k);
    },
    async (port) => {
      const r = await get(port, '/', { 'accept-encoding': 'gzip' });
      assert.equal(r.headers['etag'], 'W/"abc"');
    },
  );
});

test('a body given to end() with a non-UTF-8 encoding is sent in that encoding, encoded or not', async () => {
  const short = 'é'.repeat(100);
  const long = 'é'.repeat(2000);
  await withEncoding(
    ['gzip'],
    (req, res) => {
      res.setHeader('content-type', 'text/plain; charset=latin1');
      res.end(req.url === '/long' ? long : short, 'latin1');
    },
    async (port) => {
      const r = await get(port, '/long', { 'accept-encoding': 'gzip' });
      assert.equal(r.headers['content-encoding'], 'gzip');
      const got = zlib.gunzipSync(r.body);
      assert.ok(got.equals(Buffer.from(long, 'latin1')), `decoded ${got.length} bytes, want ${long.length} latin1 bytes`);
      const s = await get(port, '/short', { 'accept-encoding': 'gzip' });
      assert.ok(s.body.equals(Buffer.from(short, 'latin1')), `got ${s.body.length} bytes, want ${short.length}`);
    },
  );
});

test('through the request path, a site with header and encode sends its header ops on the compressed response', async () => {
  const s = await serveSites(
    `{\n\tauto_https off\n}\nhttp://site.test:8080 {\n\theader X-Site {host}\n\theader -Vary\n\tencode gzip\n\trespond "${text2k}"\n}\n`,
    8080,
  );
  try {
    const r = await get(s.port, '/', { host: 'site.test', 'accept-encoding': 'gzip' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['x-site'], 'site.test');
    // header ops run after encode decided (Caddy's order): `-Vary` removes the Vary encode added.
    assert.equal(r.headers['vary'], undefined);
    assert.equal(zlib.gunzipSync(r.body).toString(), text2k);
  } finally {
    await s.close();
  }
});
