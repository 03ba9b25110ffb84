import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { ContextCache, DEFAULT_HOT_CONTEXTS } from '../../../src/certs/context-cache.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager, type NamePolicy } from '../../../src/certs/manager.ts';
import { obtainCertificate } from '../../../src/certs/obtain.ts';
import { silentLogger } from '../../../src/log.ts';
import { isFreed } from '../../../src/tls/context-free.ts';
import { CountingIssuer, tempStorage } from './helpers.ts';
import { handshake, sniServer } from './tls-client.ts';

const NAMES = ['a', 'b', 'c', 'd', 'e'].map((l) => `${l}.od.localhost`);

async function withOnDemand(hotContexts: number, fn: (o: { mgr: CertificateManager; issuer: CountingIssuer; root: string }) => Promise<void>): Promise<void> {
  const tmp = await tempStorage();
  const local = new LocalIssuer({ storage: tmp.storage, log: silentLogger() });
  const issuer = new CountingIssuer(local);
  const policy: NamePolicy = { issuer, keyType: 'p256' };
  const mgr = new CertificateManager({
    storage: tmp.storage,
    store: new CertificateStore(tmp.storage),
    log: silentLogger(),
    hotContexts,
    onDemand: { covers: (name) => (name.endsWith('.od.localhost') ? policy : undefined), authorize: async () => {} },
  });
  try {
    await fn({ mgr, issuer, root: await local.rootPem() });
  } finally {
    await mgr.close();
    await tmp.remove();
  }
}

test('the manager keeps at most hotContexts SecureContexts, and a cold name still completes a real, verified handshake with its own certificate', async () => {
  await withOnDemand(2, async ({ mgr, issuer, root }) => {
    const server = await sniServer((sn) => mgr.secureContextFor(sn));
    try {
      const serials = new Map<string, string>();
      for (const name of NAMES) {
        const h = await handshake(server.port, name, root);
        assert.equal(h.authorized, true, h.authorizationError);
        serials.set(name, h.serialHex);
        assert.ok(mgr.contextCacheStats().hot <= 2, `hot after ${name}: ${mgr.contextCacheStats().hot}`);
      }
      assert.equal(issuer.calls, NAMES.length);
      assert.deepEqual(mgr.contextCacheStats(), { hot: 2, max: 2, built: NAMES.length });
      // a.od.localhost was evicted three names ago: its context is built again from the PEMs.
      const cold = await handshake(server.port, 'a.od.localhost', root);
      assert.equal(cold.authorized, true, cold.authorizationError);
      assert.match(cold.subjectAltName, /DNS:a\.od\.localhost/);
      assert.equal(cold.serialHex, serials.get('a.od.localhost'));
      assert.deepEqual(mgr.contextCacheStats(), { hot: 2, max: 2, built: NAMES.length + 1 }, 'one rebuild, no issuance');
      assert.equal(issuer.calls, NAMES.length);
      // Now hot: the next handshake reuses the context.
      const ctx = await mgr.secureContextFor('a.od.localhost');
      assert.equal(await mgr.secureContextFor('a.od.localhost'), ctx);
      assert.equal(mgr.contextCacheStats().built, NAMES.length + 1);
      // A context for a name without SNI support (loadedContextFor) is built the same way.
      assert.ok(mgr.loadedContextFor('c.od.localhost'));
      assert.equal(mgr.contextCacheStats().hot, 2);
    } finally {
      await server.close();
    }
  });
});

test('a TLS session resumes after its name went cold and its context was freed, without building a new one', async () => {
  await withOnDemand(1, async ({ mgr, root }) => {
    const server = tls.createServer({
      SNICallback: (sn, cb) => void mgr.secureContextFor(sn).then((ctx) => (ctx ? cb(null, ctx) : cb(new Error(`no certificate for ${sn}`)))),
    }, (socket) => socket.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const connect = (servername: string, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> =>
      new Promise((resolve, reject) => {
        let ticket: Buffer | undefined;
        const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: root, ...(session ? { session } : {}) });
        socket.on('session', (s: Buffer) => (ticket = s));
        socket.on('data', () => {});
        socket.once('error', reject);
        // The ticket arrives after the handshake (TLS 1.3): wait for the server's close.
        socket.once('end', () => resolve({ reused: socket.isSessionReused(), session: ticket }));
      });
    try {
      const first = await connect('a.od.localhost');
      assert.equal(first.reused, false);
      assert.ok(first.session, 'a session ticket');
      await connect('b.od.localhost'); // evicts a's context (bound 1)
      // Past the retire delay (1 s): a's first context is freed, not only evicted.
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      const built = mgr.contextCacheStats().built;
      const again = await connect('a.od.localhost', first.session);
      assert.equal(again.reused, true, 'the ticket keys are the server\'s, not the evicted context\'s');
      // Node asks SNICallback from OpenSSL's certificate callback, which a resumption skips: a
      // resumed handshake for a cold name costs no rebuild at all.
      assert.equal(mgr.contextCacheStats().built, built, 'no context built for a resumption');
      const full = await connect('a.od.localhost');
      assert.equal(full.reused, false);
      assert.equal(mgr.contextCacheStats().built, built + 1, 'a full handshake for the cold name builds its context');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

test('ContextCache: the bound holds, a renewal replaces the context, forget keeps a newer one, a bad bound is refused', async () => {
  const tmp = await tempStorage();
  try {
    const issuer = new LocalIssuer({ storage: tmp.storage, log: silentLogger() });
    const store = new CertificateStore(tmp.storage);
    const get = (name: string, force = false) => obtainCertificate([name], { storage: tmp.storage, store, issuer, keyType: 'p256', log: silentLogger(), force });
    const certs = await Promise.all(['x.localhost', 'y.localhost', 'z.localhost'].map((n) => get(n)));
    const cache = new ContextCache({ max: 2 });
    certs.forEach((c, i) => cache.install(`n${i}`, c));
    assert.equal(cache.size, 2);
    assert.equal(cache.built, 3);
    const [x, y] = certs as [typeof certs[0], typeof certs[0]];
    const hot = cache.contextFor('n1', y);
    assert.equal(cache.contextFor('n1', y), hot, 'hot: the same context');
    assert.equal(cache.built, 3);
    // A renewed certificate (another object) gets its own context even though the name is hot.
    const renewed = await get('y.localhost', true);
    const fresh = cache.contextFor('n1', renewed);
    assert.notEqual(fresh, hot);
    cache.forget('n1', y);
    assert.equal(cache.contextFor('n1', renewed), fresh, 'forgetting the old certificate keeps the new context');
    cache.forget('n1', renewed);
    assert.equal(cache.size, 1);
    assert.ok(cache.contextFor('n0', x));
    assert.equal(cache.size, 2);
    assert.throws(() => new ContextCache({ max: 0 }), /hot context bound: expected a positive integer, got 0/);
    assert.equal(new ContextCache().max, DEFAULT_HOT_CONTEXTS);
  } finally {
    await tmp.remove();
  }
});

/** One handshake against a server whose SNICallback hands out `ctx`; true when it completes. */
async function handshakesWith(ctx: tls.SecureContext): Promise<boolean> {
  const server = tls.createServer({ SNICallback: (_sn, cb) => cb(null, ctx) }, (socket) => socket.end('ok'));
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<boolean>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername: 'x.localhost', rejectUnauthorized: false });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

test('an evicted context handed to a handshake in the same turn serves it; its SSL_CTX is freed at the next turn', async () => {
  const tmp = await tempStorage();
  try {
    const issuer = new LocalIssuer({ storage: tmp.storage, log: silentLogger() });
    const store = new CertificateStore(tmp.storage);
    const [x, y] = await Promise.all(['x.localhost', 'y.localhost'].map((n) => obtainCertificate([n], { storage: tmp.storage, store, issuer, keyType: 'p256', log: silentLogger() })));
    assert.ok(x && y);
    const cache = new ContextCache({ max: 1 });
    const pair = await tcpPair();
    try {
      cache.install('x', x);
      // What tls-front does: the lookup's promise chain (microtasks) hands the context to a new
      // TLSSocket; an eviction by another lookup can fall in between.
      const held = await Promise.resolve().then(() => cache.contextFor('x', x));
      cache.install('y', y); // evicts x, handed out: retired
      await Promise.resolve();
      const server = new tls.TLSSocket(pair.server, { isServer: true, secureContext: held });
      server.on('error', () => {});
      await new Promise((resolve) => setImmediate(resolve)); // the retirement runs: x's SSL_CTX is freed
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(await clientHandshake(pair.client), true, 'the handshake that took the context before the next turn completes');
      server.destroy();
      // Freed: OpenSSL has no certificate left in it, so a new handshake fails (and nothing crashes).
      assert.equal(await handshakesWith(held), false, 'after the next turn its SSL_CTX is freed');
      assert.equal(await handshakesWith(cache.contextFor('y', y)), true, 'the hot one is untouched');
      assert.notEqual(cache.contextFor('x', x), held, 'a cold hit builds a new context');
    } finally {
      pair.client.destroy();
      pair.server.destroy();
    }
  } finally {
    await tmp.remove();
  }
});

test('a context only installed (never handed to a handshake) is freed as soon as it is evicted; a handed-out one lives until the next turn', async () => {
  const tmp = await tempStorage();
  try {
    const issuer = new LocalIssuer({ storage: tmp.storage, log: silentLogger() });
    const store = new CertificateStore(tmp.storage);
    const [x, y] = await Promise.all(['x.localhost', 'y.localhost'].map((n) => obtainCertificate([n], { storage: tmp.storage, store, issuer, keyType: 'p256', log: silentLogger() })));
    assert.ok(x && y);
    const cache = new ContextCache({ max: 1 });
    cache.install('x', x);
    const handed = cache.contextFor('x', x);
    const installedOnly = cache.install('x2', x); // evicts x, handed out: retired, not freed
    cache.install('y', y); // evicts x2, never handed out: freed now
    assert.equal(isFreed(handed), false, 'a handed-out context lives until the next turn');
    assert.equal(isFreed(installedOnly), true, 'an installed-only context is freed at eviction');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(isFreed(handed), true, 'at the next turn the handed-out one is freed too');
    assert.equal(await handshakesWith(installedOnly), false);
  } finally {
    await tmp.remove();
  }
});

/** A connected pair of TCP sockets on loopback. */
async function tcpPair(): Promise<{ client: net.Socket; server: net.Socket }> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  try {
    const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    const client = net.connect((listener.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
    return { client, server: await accepted };
  } finally {
    listener.close();
  }
}

/** A TLS client handshake over `raw`; true when it completes. */
function clientHandshake(raw: net.Socket): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = tls.connect({ socket: raw, servername: 'x.localhost', rejectUnauthorized: false });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
