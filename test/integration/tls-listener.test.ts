/**
 * The HTTPS listener's TLS properties, against `my-server run` with the local CA: session
 * resumption (TLS 1.3 tickets and TLS 1.2), TLS 1.2 as the floor, AEAD suites only.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { eventually } from '../helpers/eventually.ts';
import { globalOptions, startServer, type RunningServer } from '../helpers/run-server.ts';
import { freePorts } from '../helpers/ports.ts';

let server: RunningServer;
let port: number;
let ca: string;

before(async () => {
  const [httpPort, httpsPort] = await freePorts(2);
  port = httpsPort!;
  server = await startServer(
    (env) => `${globalOptions(env, { http: httpPort!, https: httpsPort!, loopback: true }, '\tlocal_certs\n')}localhost {
	respond "hi"
}
`,
  );
  // The local certificate is obtained in the background at start: wait for a handshake.
  await eventually('a verified handshake for localhost', 30_000, async () => {
    ca = await readFile(join(server.storage, 'pki/local/root.crt'), 'utf8');
    (await connect({})).destroy();
    return true;
  }, 200);
});

after(async () => {
  await server?.close();
});

function connect(o: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ...o }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A session the server gave this client (TLS 1.3 tickets arrive after the handshake, 1.2 during it). */
function sessionOf(o: tls.ConnectionOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ...o }, () => {
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no session within 5 s'));
    }, 5_000);
    socket.once('session', (session: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(session);
    });
    socket.once('error', reject);
  });
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`a ${version} session is resumed on the next connection`, async () => {
    const session = await sessionOf({ minVersion: version, maxVersion: version });
    const again = await connect({ minVersion: version, maxVersion: version, session });
    try {
      assert.equal(again.getProtocol(), version);
      assert.equal(again.isSessionReused(), true);
    } finally {
      again.destroy();
    }
  });
}

test('TLS 1.3 prefers AES-128-GCM over the client\'s order, and still speaks each of the three AEAD suites', async () => {
  // Node's client lists AES-256-GCM first: the server's order must decide.
  const s = await connect({ minVersion: 'TLSv1.3' });
  try {
    assert.equal(s.getCipher().name, 'TLS_AES_128_GCM_SHA256');
  } finally {
    s.destroy();
  }
  for (const suite of ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
    const only = await connect({ minVersion: 'TLSv1.3', ciphers: suite });
    try {
      assert.equal(only.getCipher().name, suite);
    } finally {
      only.destroy();
    }
  }
});

test('TLS 1.1 is refused; TLS 1.2 gets an AEAD suite with forward secrecy', async () => {
  await assert.rejects(connect({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }));
  const s = await connect({ maxVersion: 'TLSv1.2' });
  try {
    assert.match(s.getCipher().name, /^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
  } finally {
    s.destroy();
  }
  // A client offering only CBC suites finds none in common.
  await assert.rejects(connect({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }));
});
