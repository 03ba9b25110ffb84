/**
 * The HTTPS listener's ClientHello gate makes the handshake itself with the context it found: one
 * certificate lookup per handshake (it used to be two: the gate's, then the SNI callback's), and
 * no certificate callback. What that path must keep from the TLS server's own: HTTP/2 and
 * HTTP/1.1 by ALPN, the server's order of protocols, and session tickets that resume, also once
 * the certificate's context was rebuilt (a context cache eviction).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls, { type SecureContext } from 'node:tls';
import { TlsFront, TLS_CONTEXT_OPTIONS } from '../../../src/tls/tls-front.ts';
import { silentLogger } from '../../../src/log.ts';
import { freeSecureContext, isFreed } from '../../../src/tls/context-free.ts';
import { freePort } from '../../helpers/ports.ts';
import { selfSignedFixture } from '../../helpers/self-signed.ts';

const fixture = selfSignedFixture('tls-front-', 'a.test');

function handshake(port: number, servername: string): Promise<{ ok: boolean; subject?: unknown }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
    s.once('secureConnect', () => {
      resolve({ ok: true, subject: s.getPeerCertificate().subject.CN });
      s.destroy();
    });
    s.once('error', () => resolve({ ok: false }));
  });
}

test('one lookup per handshake: the gate\'s context is the one served, and unknown names still get no certificate', async (t) => {
  const ctx = tls.createSecureContext({ ...TLS_CONTEXT_OPTIONS, key: fixture.key, cert: fixture.cert });
  const lookups: string[] = [];
  const front = new TlsFront({
    certificates: {
      secureContextFor: (name: string): Promise<SecureContext | undefined> => {
        lookups.push(name);
        return Promise.resolve(name === 'a.test' ? ctx : undefined);
      },
      loadedContextFor: () => undefined,
    },
    challenges: { challengeContextFor: () => Promise.resolve(undefined) },
    onRequest: (_req, res) => res.end('ok'),
    onUpgrade: (_req, socket) => socket.destroy(),
    log: silentLogger(),
  });
  const port = await freePort();
  await front.listen(port, ['127.0.0.1']);
  t.after(() => front.close(0));

  for (let i = 0; i < 3; i++) assert.deepEqual(await handshake(port, 'a.test'), { ok: true, subject: 'a.test' });
  assert.deepEqual(lookups, ['a.test', 'a.test', 'a.test']);
  assert.deepEqual(await handshake(port, 'b.test'), { ok: false });
  assert.deepEqual(lookups.slice(3), ['b.test']);
});

function startFront(t: { after: (fn: () => Promise<void>) => void }, contextFor: (name: string) => SecureContext | undefined): Promise<number> {
  const front = new TlsFront({
    certificates: { secureContextFor: (name: string) => Promise.resolve(contextFor(name)), loadedContextFor: () => undefined },
    challenges: { challengeContextFor: () => Promise.resolve(undefined) },
    onRequest: (req, res) => res.end(`hello over ${req.httpVersion}`),
    onUpgrade: (_req, socket) => socket.destroy(),
    log: silentLogger(),
  });
  return (async () => {
    const port = await freePort();
    await front.listen(port, ['127.0.0.1']);
    t.after(() => front.close(0));
    return port;
  })();
}

test('a name the gate found answers HTTP/2 and HTTP/1.1 by ALPN, in the server\'s order of protocols', async (t) => {
  const ctx = tls.createSecureContext({ ...TLS_CONTEXT_OPTIONS, key: fixture.key, cert: fixture.cert });
  const port = await startFront(t, (name) => (name === 'a.test' ? ctx : undefined));

  // HTTP/2 on a handshake made by the gate: the session must start (it waits for the socket to
  // stop `secureConnecting`).
  const client = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.test', rejectUnauthorized: false });
  t.after(() => client.close());
  const body = await new Promise<string>((resolve, reject) => {
    const req = client.request({ ':path': '/', ':authority': 'a.test' });
    let text = '';
    req.setEncoding('utf8').on('data', (d: string) => (text += d));
    req.once('end', () => resolve(text));
    req.once('error', reject);
    req.end();
  });
  assert.equal(body, 'hello over 2.0');

  const alpn = (protocols: string[]): Promise<string | false | null | undefined> =>
    new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ALPNProtocols: protocols, rejectUnauthorized: false });
      s.once('secureConnect', () => {
        resolve(s.alpnProtocol);
        s.destroy();
      });
      s.once('error', () => resolve(undefined));
    });
  assert.equal(await alpn(['http/1.1', 'h2']), 'h2', 'the server\'s order, as the ALPN callback chooses');
  assert.equal(await alpn(['http/1.1']), 'http/1.1');
  assert.equal(await alpn(['spdy/3']), undefined, 'no common protocol: the handshake fails (no_application_protocol)');
});

/** A full handshake to a.test, kept open until its TLS 1.3 ticket arrives (after the handshake). */
function ticketFrom(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    s.once('session', (ticket: Buffer) => {
      assert.equal(s.isSessionReused(), false);
      resolve(ticket);
      s.destroy();
    });
    s.once('error', reject);
  });
}

/** Whether a handshake offering `session` resumed it. */
function resumes(port: number, session: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false, minVersion: 'TLSv1.3', session });
    s.once('secureConnect', () => {
      resolve(s.isSessionReused());
      s.destroy();
    });
    s.once('error', reject);
  });
}

test('a TLS 1.3 ticket resumes on the gate\'s handshake, also after the name\'s context was rebuilt', async (t) => {
  let ctx = tls.createSecureContext({ ...TLS_CONTEXT_OPTIONS, key: fixture.key, cert: fixture.cert });
  const port = await startFront(t, (name) => (name === 'a.test' ? ctx : undefined));
  const ticket = await ticketFrom(port);
  assert.equal(await resumes(port, ticket), true, 'resumed with the same context');
  // What a context cache eviction does: the next handshake gets a new context for the same pair.
  ctx = tls.createSecureContext({ ...TLS_CONTEXT_OPTIONS, key: fixture.key, cert: fixture.cert });
  assert.equal(await resumes(port, ticket), true, 'resumed with a rebuilt context: the ticket keys are the listener\'s');
});

test('two listeners sharing a certificate\'s context: a ticket from one still resumes there after the other served the name', async (t) => {
  // A certificate's context is shared by every listener (the context cache is the manager's).
  const ctx = tls.createSecureContext({ ...TLS_CONTEXT_OPTIONS, key: fixture.key, cert: fixture.cert });
  const portA = await startFront(t, (name) => (name === 'a.test' ? ctx : undefined));
  const portB = await startFront(t, (name) => (name === 'a.test' ? ctx : undefined));
  const ticket = await ticketFrom(portA);
  // Listener B's first handshake with the shared context: with keys per listener it re-keyed the context.
  await ticketFrom(portB);
  assert.equal(await resumes(portA, ticket), true, 'the ticket listener A issued still opens on A');
  assert.equal(await resumes(portB, ticket), true, 'and on B: one set of keys per process');
});

test('a certificate source that throws refuses that name with unrecognized_name, and the listener goes on', async (t) => {
  const ctx = tls.createSecureContext({ ...TLS_CONTEXT_OPTIONS, key: fixture.key, cert: fixture.cert });
  const port = await startFront(t, (name) => {
    if (name === 'boom.test') throw new Error('storage exploded');
    return name === 'a.test' ? ctx : undefined;
  });
  const alert = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'boom.test', rejectUnauthorized: false });
    s.once('secureConnect', () => resolve('handshake completed'));
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  assert.equal(alert, 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME');
  assert.deepEqual(await handshake(port, 'a.test'), { ok: true, subject: 'a.test' });
});

test('a context freed before its handshake (a retirement-timing bug) refuses that connection instead of aborting the process', async (t) => {
  const good = tls.createSecureContext({ ...TLS_CONTEXT_OPTIONS, key: fixture.key, cert: fixture.cert });
  const freed = tls.createSecureContext({ ...TLS_CONTEXT_OPTIONS, key: fixture.key, cert: fixture.cert });
  freeSecureContext(freed);
  assert.equal(isFreed(freed), true);
  const port = await startFront(t, (name) => (name === 'a.test' ? good : name === 'freed.test' ? freed : undefined));
  // Without the guard, Node asserts in TLSWrap's constructor (no SSL from a freed SSL_CTX) and
  // this test process aborts.
  assert.deepEqual(await handshake(port, 'freed.test'), { ok: false });
  assert.deepEqual(await handshake(port, 'a.test'), { ok: true, subject: 'a.test' }, 'the listener still serves');
});
