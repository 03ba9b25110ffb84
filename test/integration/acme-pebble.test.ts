/**
 * The ACME library (acme/ + certs/ issuers) against a real Pebble, for what the CLI does not
 * expose directly: IP identifiers (RFC 8738), key rollover (RFC 8555 §7.3.5), External Account
 * Binding (§7.3.4), revocation with the certificate's own key (§7.6).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcmeClient } from '../../src/acme/client.ts';
import { generateAccountKey } from '../../src/acme/jws.ts';
import { isProblem } from '../../src/acme/problem.ts';
import { obtainCertificate as acmeObtain } from '../../src/acme/flow.ts';
import { loadOrCreateAccount } from '../../src/certs/account.ts';
import { AcmeIssuer } from '../../src/certs/acme-issuer.ts';
import { CertificateStore } from '../../src/certs/certificate-store.ts';
import { obtainCertificate } from '../../src/certs/obtain.ts';
import { ChallengeServers } from '../../src/challenges/challenge-servers.ts';
import { ChallengeStore } from '../../src/challenges/challenge-store.ts';
import { Http01Solver } from '../../src/challenges/http-01.ts';
import { TlsAlpn01Solver } from '../../src/challenges/tls-alpn-01.ts';
import type { Solver } from '../../src/challenges/solver.ts';
import { silentLogger } from '../../src/log.ts';
import { FileStorage } from '../../src/storage/file-storage.ts';
import { createCsr } from '../../src/x509/csr.ts';
import { generatePrivateKeyPem } from '../../src/x509/keys.ts';
import { parseCertificate, splitPemChain } from '../../src/x509/certificate.ts';
import { startPebble, type Pebble, type PebbleOptions } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';

interface Env {
  pebble: Pebble;
  storage: FileStorage;
  solvers: Map<string, Solver>;
  close(): Promise<void>;
}

async function env(options: PebbleOptions = {}): Promise<Env> {
  const [httpPort, httpsPort] = await freePorts(2);
  const pebble = await startPebble({ ...options, httpPort: httpPort!, tlsPort: httpsPort! });
  const dir = await mkdtemp(join(tmpdir(), 'my-server-acme-'));
  const storage = new FileStorage(dir);
  const store = new ChallengeStore({ storage });
  const http01 = new Http01Solver({ store });
  const tlsAlpn01 = new TlsAlpn01Solver({ store });
  const servers = await ChallengeServers.listen({ http01, tlsAlpn01, httpPort: httpPort!, httpsPort: httpsPort!, host: '127.0.0.1' });
  return {
    pebble,
    storage,
    solvers: new Map<string, Solver>([
      ['tls-alpn-01', tlsAlpn01],
      ['http-01', http01],
    ]),
    close: async () => {
      await servers.close();
      await storage.close();
      await pebble.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function newClient(e: Env, key?: string): Promise<AcmeClient> {
  const client = new AcmeClient({ directoryUrl: e.pebble.directoryUrl, accountKey: key ?? (await generateAccountKey()), caRoots: e.pebble.caPem });
  await client.newAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'] });
  return client;
}

async function issue(e: Env, client: AcmeClient, names: string[]): Promise<string> {
  const keyPem = await generatePrivateKeyPem('p256');
  const identifiers = names.map((n) => ({ type: /^[\d.]+$|:/.test(n) ? ('ip' as const) : ('dns' as const), value: n }));
  const r = await acmeObtain(client, { identifiers, csrDer: await createCsr({ names, privateKeyPem: keyPem }), solvers: e.solvers });
  return r.certificatePem;
}

test('an IP identifier (RFC 8738) is validated and lands in the certificate as an iPAddress SAN', async () => {
  const e = await env();
  try {
    const client = await newClient(e);
    const pem = await issue(e, client, ['127.0.0.1']);
    const leaf = new X509Certificate(splitPemChain(pem)[0]!);
    assert.match(leaf.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.ok(leaf.verify(new X509Certificate(splitPemChain(pem)[1]!).publicKey));
  } finally {
    await e.close();
  }
});

test('key rollover: the new key orders a certificate, the old key is no longer the account', async () => {
  const e = await env();
  try {
    const oldKey = await generateAccountKey();
    const client = await newClient(e, oldKey);
    await client.keyChange(await generateAccountKey('ES384'));
    assert.equal(client.accountKeyAlg, 'ES384');
    const pem = await issue(e, client, ['rolled.test']);
    assert.match(new X509Certificate(splitPemChain(pem)[0]!).subjectAltName ?? '', /rolled\.test/);
    // The old key finds no account any more (RFC 8555 §7.3.1 onlyReturnExisting).
    const stale = new AcmeClient({ directoryUrl: e.pebble.directoryUrl, accountKey: oldKey, caRoots: e.pebble.caPem });
    await assert.rejects(stale.newAccount({ onlyReturnExisting: true }), (err: unknown) => isProblem(err, 'accountDoesNotExist'));
  } finally {
    await e.close();
  }
});

test('External Account Binding: required by the CA, refused without it, accepted with it', async () => {
  const e = await env({ eab: { kid1: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' } });
  try {
    const client = new AcmeClient({ directoryUrl: e.pebble.directoryUrl, accountKey: await generateAccountKey(), caRoots: e.pebble.caPem });
    await assert.rejects(client.newAccount({ termsOfServiceAgreed: true }), (err: unknown) => isProblem(err, 'externalAccountRequired'));
    const account = await client.newAccount({
      termsOfServiceAgreed: true,
      externalAccountBinding: { kid: 'kid1', hmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' },
    });
    assert.equal(account.status, 'valid');
  } finally {
    await e.close();
  }
});

test('revocation signed with the certificate key (jwk) is accepted', async () => {
  const e = await env();
  try {
    const client = await newClient(e);
    const keyPem = await generatePrivateKeyPem('p256');
    const r = await acmeObtain(client, {
      identifiers: [{ type: 'dns', value: 'ck.test' }],
      csrDer: await createCsr({ names: ['ck.test'], privateKeyPem: keyPem }),
      solvers: e.solvers,
    });
    const leaf = parseCertificate(splitPemChain(r.certificatePem)[0]!);
    const stranger = new AcmeClient({ directoryUrl: e.pebble.directoryUrl, accountKey: await generateAccountKey(), caRoots: e.pebble.caPem });
    await stranger.revokeCert(leaf.der, { certificateKey: keyPem, reason: 1 });
    assert.equal((await e.pebble.certStatus(leaf.serialHex))?.Status, 'Revoked');
  } finally {
    await e.close();
  }
});

test('renewal through certs/obtain replaces the stored certificate and keeps the account', async () => {
  const e = await env({ certificateValidityPeriod: 3600 });
  try {
    const log = silentLogger();
    const client = () => loadOrCreateAccount({ directoryUrl: e.pebble.directoryUrl, caRoots: e.pebble.caPem, storage: e.storage, log, email: 'ops@example.test' });
    const issuer = new AcmeIssuer({ client, directoryUrl: e.pebble.directoryUrl, solvers: e.solvers, log });
    const store = new CertificateStore(e.storage);
    const first = await obtainCertificate(['renew.test'], { storage: e.storage, store, issuer, keyType: 'p384', log });
    const again = await obtainCertificate(['renew.test'], { storage: e.storage, store, issuer, keyType: 'p384', log });
    assert.equal(again.meta.serialHex, first.meta.serialHex, 'a current certificate is not re-issued');
    const renewed = await obtainCertificate(['renew.test'], { storage: e.storage, store, issuer, keyType: 'p384', log, now: () => new Date(Date.parse(first.meta.notAfter) - 60_000) });
    assert.notEqual(renewed.meta.serialHex, first.meta.serialHex, 'a certificate within its renewal window is renewed');
    assert.equal((await store.load(issuer.storageKey, 'renew.test'))?.meta.serialHex, renewed.meta.serialHex);
    assert.equal(renewed.meta.keyType, 'p384');
    assert.match(renewed.keyPem, /BEGIN PRIVATE KEY/);
    assert.equal(e.pebble.logs().match(/There are now \d+ accounts in memory/g)?.length, 1);
  } finally {
    await e.close();
  }
});
