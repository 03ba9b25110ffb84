import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { parseClientHello, alertRecord, ALERT_UNRECOGNIZED_NAME } from '../../../src/tls/client-hello.ts';

/**
 * The first flight a real client sends: a loopback server that never answers collects bytes until
 * the first record is complete (its length is in the record header, so this does not lean on the
 * parser under test), then the client is stopped.
 */
async function captureHello(connect: (port: number) => () => void): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      let stop: () => void = () => {};
      const timer = setTimeout(() => reject(new Error('no ClientHello within 10 s')), 10_000);
      server.once('connection', (socket) => {
        let buf = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
            clearTimeout(timer);
            socket.destroy();
            stop();
            resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
          }
        });
      });
      stop = connect(port);
    });
  } finally {
    server.close();
  }
}

function nodeHello(options: tls.ConnectionOptions): Promise<Buffer> {
  return captureHello((port) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    socket.on('error', () => {});
    return () => socket.destroy();
  });
}

function opensslHello(args: readonly string[]): Promise<Buffer> {
  return captureHello((port) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', () => {});
    return () => child.kill();
  });
}

/** The same handshake message re-cut into records of `size` bytes of fragment each (RFC 8446 §5.1 allows it). */
function refragment(record: Buffer, size: number): Buffer {
  const msg = record.subarray(5);
  const out: Buffer[] = [];
  for (let off = 0; off < msg.length; off += size) {
    const frag = msg.subarray(off, off + size);
    const header = Buffer.from([22, 0x03, 0x01, 0, 0]);
    header.writeUInt16BE(frag.length, 3);
    out.push(header, frag);
  }
  return Buffer.concat(out);
}

test('Node client: SNI and the ALPN list, in the order offered', async () => {
  const hello = await nodeHello({ servername: 'App.Example.test', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.deepEqual(parseClientHello(hello), { kind: 'hello', serverName: 'App.Example.test', alpn: ['h2', 'http/1.1'] });
});

test('Node client without SNI or ALPN: both absent, not empty', async () => {
  // Node sends no SNI for an IP address.
  const hello = await nodeHello({});
  assert.deepEqual(parseClientHello(hello), { kind: 'hello', serverName: undefined, alpn: undefined });
});

test('OpenSSL client: acme-tls/1 offered, as a validating CA does', async () => {
  const hello = await opensslHello(['-servername', 'a.test', '-alpn', 'acme-tls/1']);
  assert.deepEqual(parseClientHello(hello), { kind: 'hello', serverName: 'a.test', alpn: ['acme-tls/1'] });
});

test('OpenSSL TLS 1.2-only client with -noservername', async () => {
  const hello = await opensslHello(['-noservername', '-tls1_2']);
  assert.deepEqual(parseClientHello(hello), { kind: 'hello', serverName: undefined, alpn: undefined });
});

test('every proper prefix is partial and says how many bytes it needs; the whole hello is complete', async () => {
  const hello = await nodeHello({ servername: 'a.test', ALPNProtocols: ['h2'] });
  for (let n = 0; n < hello.length; n++) {
    const r = parseClientHello(hello.subarray(0, n));
    assert.equal(r.kind, 'partial', `prefix of ${n} bytes`);
    // The need never overshoots: the whole hello always satisfies it.
    if (r.kind === 'partial') assert.ok(r.need > n && r.need <= hello.length, `prefix of ${n}: need ${r.need}`);
  }
  // Past the record header, the need is the whole record at once.
  assert.deepEqual(parseClientHello(hello.subarray(0, 6)), { kind: 'partial', need: hello.length });
  assert.equal(parseClientHello(hello).kind, 'hello');
});

test('a hello split over several records is reassembled; tiny fragments past the record bound are refused', async () => {
  const hello = await nodeHello({ servername: 'split.test', ALPNProtocols: ['http/1.1'] });
  for (const size of [Math.ceil((hello.length - 5) / 8), 500, 1000]) {
    const cut = refragment(hello, size);
    assert.deepEqual(parseClientHello(cut), { kind: 'hello', serverName: 'split.test', alpn: ['http/1.1'] }, `fragments of ${size}`);
    assert.equal(parseClientHello(cut.subarray(0, cut.length - 1)).kind, 'partial');
  }
  // One byte per record: a hello real clients never send, and work per byte for a reader.
  assert.deepEqual(parseClientHello(refragment(hello, 1)), { kind: 'invalid', reason: 'ClientHello in more than 8 records' });
});

test('plain HTTP is not TLS and is recognised as HTTP; other bytes are not', () => {
  assert.deepEqual(parseClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), { kind: 'not-tls', http: true });
  assert.deepEqual(parseClientHello(Buffer.from('OPTIONS * HTTP/1.1\r\n')), { kind: 'not-tls', http: true });
  assert.deepEqual(parseClientHello(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')), { kind: 'not-tls', http: false });
  assert.deepEqual(parseClientHello(Buffer.from([0x80, 0x2e, 0x01])), { kind: 'not-tls', http: false });
});

test('malformed hellos are invalid, never a throw or a read past the end', async () => {
  const hello = await nodeHello({ servername: 'a.test' });
  // A ServerHello (type 2) where a ClientHello belongs.
  const serverHello = Buffer.from(hello);
  serverHello[5] = 2;
  assert.equal(parseClientHello(serverHello).kind, 'invalid');
  // The handshake length claims less than the body holds: the extensions are cut off.
  const short = Buffer.from(hello);
  short.writeUIntBE(40, 6, 3);
  assert.deepEqual(parseClientHello(short), { kind: 'invalid', reason: 'ClientHello truncated' });
  // A record longer than TLS allows, and a zero-length record.
  assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0x48, 0x01])).kind, 'invalid');
  assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 0])).kind, 'invalid');
  // An alert record in the middle of a fragmented hello.
  const cut = refragment(hello, 100);
  cut[105] = 21;
  assert.equal(parseClientHello(cut).kind, 'invalid');
  // A declared hello larger than the 64 KiB bound is refused before it is buffered.
  assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0x10, 0, 0])).kind, 'invalid');
  // Random bytes after a valid record header never throw.
  for (let i = 0; i < 200; i++) {
    const body = Buffer.from(Array.from({ length: 60 }, () => Math.floor(Math.random() * 256)));
    const rec = Buffer.concat([Buffer.from([22, 3, 1, 0, body.length + 4, 1, 0, 0, body.length]), body]);
    assert.doesNotThrow(() => parseClientHello(rec));
  }
});

test('the alert record is a fatal unrecognized_name that OpenSSL reports as such', async () => {
  assert.deepEqual([...alertRecord(ALERT_UNRECOGNIZED_NAME)], [21, 3, 3, 0, 2, 2, 112]);
  const server = net.createServer((socket) => socket.once('data', () => socket.end(alertRecord(ALERT_UNRECOGNIZED_NAME))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const err = await new Promise<Error>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'x.test' });
      socket.on('secureConnect', () => resolve(new Error('handshake succeeded')));
      socket.on('error', resolve);
    });
    assert.match(err.message, /unrecognized name/i);
    assert.equal((err as NodeJS.ErrnoException).code, 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME');
  } finally {
    server.close();
  }
});

test('the SNI name comes out byte for byte (latin1): a NUL or a UTF-8 byte is kept for the name check to refuse, never cut', async () => {
  const { rawClientHello } = await import('../../helpers/raw-hello.ts');
  const cases: [Buffer | string, string][] = [
    ['a\0b.test', 'a\0b.test'],
    [Buffer.from('bücher.test', 'utf8'), 'b\xc3\xbccher.test'],
    [' a.test', ' a.test'],
    ['127.0.0.1', '127.0.0.1'],
  ];
  for (const [sent, want] of cases) {
    const parsed = parseClientHello(rawClientHello(sent));
    assert.equal(parsed.kind, 'hello');
    assert.equal(parsed.kind === 'hello' ? parsed.serverName : undefined, want, JSON.stringify(want));
  }
});
