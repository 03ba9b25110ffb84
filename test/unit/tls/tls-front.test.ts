/**
 * The HTTPS listener's ClientHello gate hands the context it found to the SNI callback: one
 * certificate lookup per handshake (it used to be two: the gate's, then the SNI callback's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls, { type SecureContext } from 'node:tls';
import { TlsFront, TLS_CONTEXT_OPTIONS } from '../../../src/tls/tls-front.ts';
import { silentLogger } from '../../../src/log.ts';
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
