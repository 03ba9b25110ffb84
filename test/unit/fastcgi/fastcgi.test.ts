/**
 * The FastCGI wire format (fastcgi/protocol.ts), the CGI header block (cgi-response.ts), the
 * path split and join (env.ts), and the php_fastcgi directive (config/directives/php-fastcgi.ts).
 * The client against a real php-fpm is test/integration/php-fastcgi.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';
import type { PhpFastcgiRoute } from '../../../src/config/types.ts';
import { headerEnd, parseCgiHead } from '../../../src/fastcgi/cgi-response.ts';
import { Exchange, FastCgiError, FastCgiPool, type ResponseSink } from '../../../src/fastcgi/client.ts';
import { firstSplit, sanitizedJoin } from '../../../src/fastcgi/env.ts';
import { beginRequest, decodeParams, encodeParams, encodeRecord, PARAMS, RecordReader, STDIN, STDOUT, streamRecords } from '../../../src/fastcgi/protocol.ts';

test('records: 8-byte header, content padded to a multiple of 8, reassembled from a stream cut anywhere', () => {
  const rec = encodeRecord(STDOUT, 1, Buffer.from('hello'));
  assert.deepEqual([...rec.subarray(0, 8)], [1, STDOUT, 0, 1, 0, 5, 3, 0]);
  assert.equal(rec.length, 16);
  const begin = beginRequest(1, true);
  assert.deepEqual([...begin.subarray(8)], [0, 1, 1, 0, 0, 0, 0, 0], 'role RESPONDER, FCGI_KEEP_CONN');
  const stream = Buffer.concat([rec, encodeRecord(STDOUT, 1, Buffer.alloc(0)), encodeRecord(3, 1, Buffer.alloc(8))]);
  for (let cut = 1; cut < stream.length; cut++) {
    const reader = new RecordReader();
    const got = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
    assert.deepEqual(
      got.map((r) => [r.type, r.content.toString()]),
      [
        [STDOUT, 'hello'],
        [STDOUT, ''],
        [3, '\0'.repeat(8)],
      ],
      `cut at ${cut}`,
    );
    assert.equal(reader.pending, 0);
  }
  assert.throws(() => new RecordReader().push(Buffer.from([2, 6, 0, 1, 0, 0, 0, 0])), /version 2/);
});

test('a stream longer than 65535 bytes goes in several records; an empty one gives none', () => {
  const data = Buffer.alloc(70_000, 7);
  const recs = streamRecords(STDIN, 1, data);
  assert.equal(recs.length, 2);
  const reader = new RecordReader();
  const back = Buffer.concat(recs.flatMap((r) => reader.push(r)).map((r) => r.content));
  assert.ok(back.equals(data));
  assert.deepEqual(streamRecords(STDIN, 1, Buffer.alloc(0)), []);
  assert.throws(() => encodeRecord(STDIN, 1, data), /exceeds 65535/);
});

test('name-value pairs: 1-byte lengths under 128, 4-byte lengths with the high bit from 128 on', () => {
  const long = 'v'.repeat(200);
  const body = encodeParams([
    ['A', 'b'],
    ['LONG', long],
    ['EMPTY', ''],
  ]);
  assert.deepEqual([...body.subarray(0, 4)], [1, 1, 0x41, 0x62]);
  assert.deepEqual([...body.subarray(4, 9)], [4, 0x80, 0, 0, 200]);
  assert.deepEqual([...decodeParams(body)], [
    ['A', 'b'],
    ['LONG', long],
    ['EMPTY', ''],
  ]);
  assert.equal(encodeRecord(PARAMS, 1, body).readUInt16BE(4), body.length);
});

test('CGI header block: Status sets the status, Location alone is a 302, CRLF or LF lines, repeated names kept', () => {
  const raw = Buffer.from('Status: 201 Created\r\nX-A: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nbody');
  const end = headerEnd(raw);
  // The block ends at the LF of the last header line; the body starts after the blank line.
  const lf = raw.indexOf('\r\n\r\n') + 1;
  assert.deepEqual(end, [lf, lf + 3]);
  assert.equal(raw.indexOf('body'), lf + 3);
  const head = parseCgiHead(raw.toString('latin1', 0, (end as readonly [number, number])[0]));
  assert.equal(head.status, 201);
  assert.deepEqual(head.headers, [
    ['X-A', '1'],
    ['Set-Cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
  ]);
  const bare = Buffer.from('Location: /x\n\nrest');
  assert.equal(bare.subarray((headerEnd(bare) as readonly [number, number])[1]).toString(), 'rest');
  assert.equal(parseCgiHead('Location: /x').status, 302);
  assert.equal(parseCgiHead('Content-Type: text/html').status, 200);
  assert.equal(headerEnd(Buffer.from('X-A: 1\r\n')), undefined, 'no blank line yet');
  assert.throws(() => parseCgiHead('not a header'), /malformed CGI header line/);
  assert.throws(() => parseCgiHead('Status: abc'), /malformed CGI Status/);
});

test('split: at the first split substring that ends a segment, without regard to case', () => {
  assert.deepEqual(firstSplit('/index.php/a/b', ['.php']), ['/index.php', '/a/b']);
  assert.deepEqual(firstSplit('/INDEX.PHP', ['.php']), ['/INDEX.PHP', '']);
  assert.deepEqual(firstSplit('/a.phpx/b.php/c', ['.php']), ['/a.phpx/b.php', '/c']);
  assert.deepEqual(firstSplit('/static/app.js', ['.php']), ['/static/app.js', '']);
});

test('sanitizedJoin: never above the root, a trailing slash kept', () => {
  assert.equal(sanitizedJoin('/srv/www', '/../../etc/passwd'), '/srv/www/etc/passwd');
  assert.equal(sanitizedJoin('/srv/www', 'index.php'), '/srv/www/index.php');
  assert.equal(sanitizedJoin('/srv/www', '/sub/'), '/srv/www/sub/');
});

async function routeOf(block: string): Promise<PhpFastcgiRoute> {
  const config = await parseConfig(`http://php.test {\n${block}\n}\n`, { filename: 'P', env: {} });
  const r = config.sites[0]?.routes.find((x) => x.kind === 'php_fastcgi');
  assert.ok(r);
  return r as PhpFastcgiRoute;
}

async function errorOf(block: string): Promise<string> {
  try {
    await parseConfig(`http://php.test {\n${block}\n}\n`, { filename: 'P', env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return assert.fail(`expected a ConfigError for ${block}`);
}

test('php_fastcgi directive: defaults, subdirectives, unix upstreams', async () => {
  const d = await routeOf('php_fastcgi 127.0.0.1:9000');
  assert.deepEqual(d.upstreams.map((u) => [u.scheme, u.host, u.port]), [['http', '127.0.0.1', 9000]]);
  assert.deepEqual(d.split, ['.php']);
  assert.equal(d.index, 'index.php');
  assert.deepEqual(d.tryFiles, []);
  assert.equal(d.dialTimeoutMs, 3000);
  assert.equal(d.readTimeoutMs, 0);
  const full = await routeOf(`php_fastcgi /app/* unix//run/php.sock localhost:9001 {
	root /srv/app
	split .php .php5
	index off
	try_files {path} index.php
	env A 1
	env B "two words"
	resolve_root_symlink
	dial_timeout 1s
	read_timeout 30s
	write_timeout 2m
	capture_stderr
	lb_policy first
}`);
  assert.deepEqual(full.upstreams.map((u) => u.scheme), ['unix', 'http']);
  assert.equal(full.upstreams[0]?.path, '/run/php.sock');
  assert.deepEqual(full.matcher?.matchers.length, 1);
  assert.equal(full.root, '/srv/app');
  assert.deepEqual(full.split, ['.php', '.php5']);
  assert.equal(full.index, false);
  assert.deepEqual(full.tryFiles, ['{path}', 'index.php']);
  assert.deepEqual(full.env, [
    ['A', '1'],
    ['B', 'two words'],
  ]);
  assert.equal(full.resolveRootSymlink, true);
  assert.deepEqual([full.dialTimeoutMs, full.readTimeoutMs, full.writeTimeoutMs], [1000, 30_000, 120_000]);
  assert.equal(full.captureStderr, true);
  assert.equal(full.lbPolicy, 'first');
  assert.equal(d.lbPolicy, 'round_robin');
});

test('php_fastcgi directive: clear errors', async () => {
  assert.match(await errorOf('php_fastcgi'), /usage: php_fastcgi/);
  assert.match(await errorOf('php_fastcgi https://127.0.0.1:9000'), /FastCGI over TLS is not supported/);
  assert.match(await errorOf('php_fastcgi 127.0.0.1:9000 {\n\thealth_uri /ping\n}'), /php_fastcgi health_uri: reverse_proxy subdirectives are not supported/);
  assert.match(await errorOf('php_fastcgi 127.0.0.1:9000 {\n\tlb_policy ip_hash\n}'), /lb_policy: "ip_hash" is not supported in php_fastcgi yet/);
  assert.match(await errorOf('php_fastcgi 127.0.0.1:9000 {\n\tbogus\n}'), /unknown subdirective "bogus" in php_fastcgi/);
  assert.match(await errorOf('php_fastcgi 127.0.0.1:9000 {\n\tread_timeout soon\n}'), /invalid duration "soon"/);
  assert.match(await errorOf('php_fastcgi 127.0.0.1:9000 {\n\tenv A\n}'), /env KEY VALUE/);
  assert.match(await errorOf('php_fastcgi 127.0.0.1:9000 {\n\tindex a/b.php\n}'), /must be a file name/);
});

/** A loopback TCP peer that accepts and then does what `onConn` says (never reads, closes…). */
async function peer(onConn: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    onConn(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const nullSink: ResponseSink = { head: () => {}, write: () => true, onDrain: () => {}, end: () => {} };

test('write_timeout: a server that stops reading the body fails the exchange with a timeout', async () => {
  const p = await peer((s) => s.pause());
  try {
    const pool = new FastCgiPool({ network: 'tcp', host: '127.0.0.1', port: p.port }, { dialTimeoutMs: 1000 });
    const { socket } = await pool.acquire();
    const body = Readable.from((function* () {
      for (let i = 0; i < 256; i++) yield Buffer.alloc(256 * 1024);
    })());
    const ex = new Exchange(socket, { params: [], body, readTimeoutMs: 0, writeTimeoutMs: 200 }, nullSink);
    await assert.rejects(ex.done, (err: FastCgiError) => err.failure === 'timeout' && /took no request body/.test(err.message));
    assert.ok(socket.destroyed);
  } finally {
    p.close();
  }
});

test('a connection closed before the response headers is a "closed" failure; a refused dial is a "dial" failure', async () => {
  const p = await peer((s) => s.once('data', () => s.destroy()));
  try {
    const pool = new FastCgiPool({ network: 'tcp', host: '127.0.0.1', port: p.port }, { dialTimeoutMs: 1000 });
    const { socket } = await pool.acquire();
    const ex = new Exchange(socket, { params: [['A', 'b']], readTimeoutMs: 0, writeTimeoutMs: 0 }, nullSink);
    await assert.rejects(ex.done, (err: FastCgiError) => err.failure === 'closed');
  } finally {
    p.close();
  }
  const refused = new FastCgiPool({ network: 'tcp', host: '127.0.0.1', port: p.port }, { dialTimeoutMs: 1000 });
  await assert.rejects(refused.acquire(), (err: FastCgiError) => err.failure === 'dial' && /dial 127\.0\.0\.1:\d+/.test(err.message));
});

test('the pool drops an idle connection the server closed, and dials anew', async () => {
  let accepted = 0;
  const conns: net.Socket[] = [];
  const p = await peer((s) => {
    accepted++;
    conns.push(s);
  });
  try {
    const pool = new FastCgiPool({ network: 'tcp', host: '127.0.0.1', port: p.port }, { dialTimeoutMs: 1000 });
    const first = await pool.acquire();
    pool.release(first.socket);
    assert.equal(pool.idleCount, 1);
    const closed = new Promise((resolve) => first.socket.once('close', resolve));
    conns[0]?.end();
    await closed;
    assert.equal(pool.idleCount, 0);
    const second = await pool.acquire();
    assert.equal(second.reused, false);
    assert.equal(accepted, 2);
    second.socket.destroy();
    pool.close();
  } finally {
    p.close();
  }
});
