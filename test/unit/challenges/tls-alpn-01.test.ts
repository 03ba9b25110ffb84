import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { ChallengeServers } from '../../../src/challenges/challenge-servers.ts';
import { ChallengeStore } from '../../../src/challenges/challenge-store.ts';
import { Http01Solver } from '../../../src/challenges/http-01.ts';
import type { ChallengeInfo } from '../../../src/challenges/solver.ts';
import { TlsAlpn01Solver, createAcmeTlsServerOptions } from '../../../src/challenges/tls-alpn-01.ts';
import { parseCertificate } from '../../../src/x509/certificate.ts';
import { generatePrivateKeyPem } from '../../../src/x509/keys.ts';
import { createIntermediateCa, createRootCa, issueLeafCertificate } from '../../../src/x509/local-ca.ts';
import { openssl } from '../x509/openssl.ts';
import { MemoryStorage } from './memory-storage.ts';

const ACME_OID = '1.3.6.1.5.5.7.1.31';

const challenge = (value: string, type: 'dns' | 'ip' = 'dns'): ChallengeInfo => ({
  type: 'tls-alpn-01',
  token: 'tok',
  keyAuthorization: `tok-${value}.thumb`,
  identifier: { type, value },
});

const acmeValue = (keyAuthorization: string): string =>
  Buffer.concat([Buffer.from([0x04, 0x20]), createHash('sha256').update(keyAuthorization).digest()]).toString('hex');

interface Handshake {
  readonly ok: boolean;
  readonly alpn: string | undefined;
  readonly cert: ReturnType<typeof parseCertificate> | undefined;
  readonly output: string;
}

/** A real `openssl s_client` handshake against 127.0.0.1:port; `args` add -alpn / -servername / -noservername. */
async function sClient(port: number, args: string[]): Promise<Handshake> {
  const { code, stdout, stderr } = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-showcerts', ...args]);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0];
  return {
    ok: code === 0 && pem !== undefined,
    alpn: /ALPN protocol: (\S+)/.exec(stdout)?.[1],
    cert: pem === undefined ? undefined : parseCertificate(pem),
    output: stdout + stderr,
  };
}

/** An ordinary site certificate, so tests can tell it from the challenge certificate. */
async function siteCertificate(name: string): Promise<{ key: string; cert: string }> {
  const root = await createRootCa();
  const intermediate = await createIntermediateCa(root);
  const key = await generatePrivateKeyPem('p256');
  const { chainPem } = await issueLeafCertificate({ issuer: intermediate, names: [name], keyPem: key });
  return { key, cert: chainPem };
}

async function siteContext(name: string): Promise<tls.SecureContext> {
  return tls.createSecureContext(await siteCertificate(name));
}

async function listen(t: TestContext, server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('on this Node, ALPNCallback runs before SNICallback and both get the TLSSocket as this', async (t) => {
  const calls: { name: string; self: unknown }[] = [];
  const site = await siteContext('a.test');
  const server = tls.createServer({
    ALPNCallback(this: unknown) {
      calls.push({ name: 'alpn', self: this });
      return 'acme-tls/1';
    },
    SNICallback(this: unknown, _name, cb) {
      calls.push({ name: 'sni', self: this });
      cb(null, site);
    },
  });
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const port = await listen(t, server);
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false });
  t.after(() => client.destroy());
  const [socket] = await accepted;
  socket.destroy();
  assert.deepEqual(calls.map((c) => c.name), ['alpn', 'sni']);
  assert.ok(socket instanceof tls.TLSSocket);
  assert.equal(calls[0]?.self, socket);
  assert.equal(calls[1]?.self, socket);
});

/**
 * A TLS server like the proxy's: challenge certificates for acme-tls/1, the site certificate
 * otherwise, and a default certificate (served when a hello has no SNI) that must never answer acme-tls/1.
 */
async function acmeServer(t: TestContext, solver: TlsAlpn01Solver, getSecureContext: (name: string) => Promise<tls.SecureContext | undefined>): Promise<number> {
  // No default certificate, as in my-server's listeners: refusals rely on there being none.
  const server = tls.createServer(
    { ...createAcmeTlsServerOptions({ solver, getSecureContext, alpnProtocols: ['h2', 'http/1.1'] }) },
    (socket) => socket.end(),
  );
  return listen(t, server);
}

test('openssl offering acme-tls/1 gets the challenge certificate with the acmeIdentifier extension', async (t) => {
  const solver = new TlsAlpn01Solver({ store: new ChallengeStore({ storage: new MemoryStorage() }) });
  const site = await siteContext('a.test');
  const port = await acmeServer(t, solver, async () => site);
  await solver.present(challenge('a.test'));
  const res = await sClient(port, ['-alpn', 'acme-tls/1', '-servername', 'A.test']);
  assert.ok(res.ok, res.output);
  assert.equal(res.alpn, 'acme-tls/1');
  const ext = res.cert?.extensions.find((e) => e.oid === ACME_OID);
  assert.equal(ext?.critical, true);
  assert.equal(Buffer.from(ext?.value ?? []).toString('hex'), acmeValue('tok-a.test.thumb'));
  assert.deepEqual(res.cert?.dnsNames, ['a.test']);
});

test('without acme-tls/1 the same name gets the site certificate, never the challenge one', async (t) => {
  const solver = new TlsAlpn01Solver({ store: new ChallengeStore({ storage: new MemoryStorage() }) });
  const site = await siteContext('a.test');
  const port = await acmeServer(t, solver, async () => site);
  await solver.present(challenge('a.test'));
  for (const args of [['-alpn', 'h2'], ['-alpn', 'http/1.1,h2'], []]) {
    const res = await sClient(port, [...args, '-servername', 'a.test']);
    assert.ok(res.ok, res.output);
    assert.equal(res.cert?.extensions.some((e) => e.oid === ACME_OID), false);
    assert.equal(res.cert?.issuerCommonName, 'my-server Local Authority - ECC Intermediate');
    assert.equal(res.alpn, args.length === 0 ? undefined : args[1]?.split(',').includes('h2') ? 'h2' : 'http/1.1');
  }
});

test('acme-tls/1 for a name with no pending challenge, or without SNI, fails the handshake', async (t) => {
  const solver = new TlsAlpn01Solver({ store: new ChallengeStore({ storage: new MemoryStorage() }) });
  const site = await siteContext('a.test');
  const port = await acmeServer(t, solver, async () => site);
  await solver.present(challenge('a.test'));
  for (const args of [['-servername', 'b.test'], ['-servername', '../a.test'], ['-noservername']]) {
    const res = await sClient(port, ['-alpn', 'acme-tls/1', ...args]);
    assert.equal(res.ok, false, res.output);
    assert.equal(res.cert, undefined);
  }
  await solver.cleanup(challenge('a.test'));
  assert.equal((await sClient(port, ['-alpn', 'acme-tls/1', '-servername', 'a.test'])).ok, false);
  // Without SNI an ordinary hello gets no certificate either: there is no default one.
  assert.equal((await sClient(port, ['-noservername'])).cert, undefined);
  // The site itself still works: failures above were per handshake.
  assert.ok((await sClient(port, ['-servername', 'a.test'])).ok);
});

test('an IP identifier is answered for its in-addr.arpa / ip6.arpa SNI name (RFC 8738)', async (t) => {
  const solver = new TlsAlpn01Solver({ store: new ChallengeStore({ storage: new MemoryStorage() }) });
  const port = await acmeServer(t, solver, async () => undefined);
  await solver.present(challenge('127.0.0.1', 'ip'));
  await solver.present(challenge('2001:db8::1', 'ip'));
  const v4 = await sClient(port, ['-alpn', 'acme-tls/1', '-servername', '1.0.0.127.in-addr.arpa']);
  assert.ok(v4.ok, v4.output);
  assert.deepEqual(v4.cert?.ipAddresses, ['127.0.0.1']);
  const reversed = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
  const v6 = await sClient(port, ['-alpn', 'acme-tls/1', '-servername', reversed]);
  assert.ok(v6.ok, v6.output);
  assert.deepEqual(v6.cert?.ipAddresses, ['2001:db8::1']);
});

test('another instance sharing the storage answers a challenge this one presented', async (t) => {
  const storage = new MemoryStorage();
  const presenter = new TlsAlpn01Solver({ store: new ChallengeStore({ storage }) });
  const answerer = new TlsAlpn01Solver({ store: new ChallengeStore({ storage }) });
  const port = await acmeServer(t, answerer, async () => undefined);
  await presenter.present(challenge('a.test'));
  const res = await sClient(port, ['-alpn', 'acme-tls/1', '-servername', 'a.test']);
  assert.ok(res.ok, res.output);
  assert.equal(Buffer.from(res.cert?.extensions.find((e) => e.oid === ACME_OID)?.value ?? []).toString('hex'), acmeValue('tok-a.test.thumb'));
});

test('a throwing or rejecting lookup fails only that handshake; the server keeps serving', async (t) => {
  const storage = new MemoryStorage();
  const solver = new TlsAlpn01Solver({ store: new ChallengeStore({ storage }) });
  const site = await siteContext('a.test');
  const port = await acmeServer(t, solver, async (name) => {
    if (name === 'throw.test') throw new Error('lookup exploded');
    return site;
  });
  const sync = tls.createServer(
    createAcmeTlsServerOptions({
      solver,
      getSecureContext: () => {
        throw new Error('synchronous throw');
      },
      alpnProtocols: ['http/1.1'],
    }),
  );
  const syncPort = await listen(t, sync);
  assert.equal((await sClient(port, ['-servername', 'throw.test'])).ok, false);
  assert.equal((await sClient(syncPort, ['-servername', 'a.test'])).ok, false);
  await solver.present(challenge('a.test'));
  storage.failWith = new Error('storage down');
  const solverStore = new TlsAlpn01Solver({ store: new ChallengeStore({ storage }) });
  const failingPort = await acmeServer(t, solverStore, async () => site);
  assert.equal((await sClient(failingPort, ['-alpn', 'acme-tls/1', '-servername', 'a.test'])).ok, false);
  storage.failWith = undefined;
  assert.ok((await sClient(port, ['-servername', 'a.test'])).ok);
  assert.ok((await sClient(port, ['-alpn', 'acme-tls/1', '-servername', 'a.test'])).ok);
});

test('ChallengeServers answer HTTP-01 and acme-tls/1 only, and release their ports on close', async () => {
  const storage = new MemoryStorage();
  const store = new ChallengeStore({ storage });
  const http01 = new Http01Solver({ store });
  const tlsAlpn01 = new TlsAlpn01Solver({ store });
  const servers = await ChallengeServers.listen({ http01, tlsAlpn01, httpPort: 0, httpsPort: 0, host: '127.0.0.1' });
  try {
    const httpPort = servers.httpAddress?.port ?? 0;
    const httpsPort = servers.httpsAddress?.port ?? 0;
    await http01.present({ type: 'http-01', token: 'tok', keyAuthorization: 'tok.thumb', identifier: { type: 'dns', value: 'a.test' } });
    await tlsAlpn01.present(challenge('a.test'));
    const get = async (path: string): Promise<[number, string]> => {
      const req = http.get({ host: '127.0.0.1', port: httpPort, path, headers: { host: 'a.test' }, agent: false });
      const [res] = (await once(req, 'response')) as [http.IncomingMessage];
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      await once(res, 'end');
      return [res.statusCode ?? 0, body];
    };
    assert.deepEqual(await get('/.well-known/acme-challenge/tok'), [200, 'tok.thumb']);
    assert.equal((await get('/'))[0], 404);
    assert.equal((await get('/.well-known/acme-challenge/nope'))[0], 404);
    const acme = await sClient(httpsPort, ['-alpn', 'acme-tls/1', '-servername', 'a.test']);
    assert.ok(acme.ok, acme.output);
    assert.ok(acme.cert?.extensions.some((e) => e.oid === ACME_OID));
    assert.equal((await sClient(httpsPort, ['-alpn', 'h2', '-servername', 'a.test'])).ok, false);
    assert.equal((await sClient(httpsPort, ['-servername', 'a.test'])).ok, false);
    // A connection left open must not keep close() waiting.
    const idle = net.connect(httpPort, '127.0.0.1');
    await once(idle, 'connect');
    await servers.close();
    for (const port of [httpPort, httpsPort]) {
      const probe = net.connect(port, '127.0.0.1');
      const [err] = (await once(probe, 'error')) as [NodeJS.ErrnoException];
      assert.equal(err.code, 'ECONNREFUSED');
    }
  } finally {
    await servers.close();
  }
});

test('ChallengeServers.listen fails with MS_ERR_CHALLENGE_FAILED on a taken port and leaves nothing listening', async (t) => {
  const blocker = net.createServer();
  const taken = await listen(t, blocker);
  const store = new ChallengeStore({ storage: new MemoryStorage() });
  const free = net.createServer();
  const freePort = await listen(t, free);
  await new Promise<void>((resolve) => free.close(() => resolve()));
  await assert.rejects(
    ChallengeServers.listen({ http01: new Http01Solver({ store }), tlsAlpn01: new TlsAlpn01Solver({ store }), httpPort: freePort, httpsPort: taken, host: '127.0.0.1' }),
    (err: unknown) => err instanceof Error && 'code' in err && err.code === 'MS_ERR_CHALLENGE_FAILED',
  );
  const probe = net.connect(freePort, '127.0.0.1');
  const [err] = (await once(probe, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNREFUSED');
});
