import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { MyServerError } from '../../../src/errors.ts';
import { parseCertificate, splitPemChain } from '../../../src/x509/certificate.ts';
import { generatePrivateKeyPem } from '../../../src/x509/keys.ts';
import { createIntermediateCa, createRootCa, issueLeafCertificate, type CertifiedKey } from '../../../src/x509/local-ca.ts';
import { openssl, withTempDir } from './openssl.ts';

const DAY = 24 * 60 * 60 * 1000;

async function makeChain(names: string[], keyType: 'p256' | 'rsa2048' = 'p256') {
  const root = await createRootCa();
  const intermediate = await createIntermediateCa(root);
  const keyPem = await generatePrivateKeyPem(keyType);
  const leaf = await issueLeafCertificate({ issuer: intermediate, names, keyPem });
  return { root, intermediate, keyPem, ...leaf };
}

test('openssl verifies leaf → intermediate → root for TLS server use', async () => {
  const { root, intermediate, certPem } = await makeChain(['a.test', '127.0.0.1']);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'root.pem'), root.certPem);
    await writeFile(join(dir, 'intermediate.pem'), intermediate.certPem);
    await writeFile(join(dir, 'leaf.pem'), certPem);
    const ok = await openssl(['verify', '-purpose', 'sslserver', '-CAfile', 'root.pem', '-untrusted', 'intermediate.pem', 'leaf.pem'], { cwd: dir });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /leaf\.pem: OK/);
    // Without the intermediate the chain cannot be built: the check above is not vacuous.
    const broken = await openssl(['verify', '-CAfile', 'root.pem', 'leaf.pem'], { cwd: dir });
    assert.notEqual(broken.code, 0);
  });
});

test('node:crypto verifies each signature and issuer link of the chain', async () => {
  const { root, intermediate, certPem } = await makeChain(['a.test']);
  const [r, i, l] = [root.certPem, intermediate.certPem, certPem].map((p) => new X509Certificate(p)) as [X509Certificate, X509Certificate, X509Certificate];
  assert.ok(r.verify(r.publicKey));
  assert.ok(i.verify(r.publicKey));
  assert.ok(l.verify(i.publicKey));
  assert.equal(l.verify(r.publicKey), false);
  assert.ok(i.checkIssued(r));
  assert.ok(l.checkIssued(i));
});

test('root, intermediate and leaf carry the CA constraints, usages and key identifiers of a local CA', async () => {
  const { root, intermediate, certPem } = await makeChain(['a.test']);
  const text = async (pem: string): Promise<string> => (await openssl(['x509', '-noout', '-text'], { input: pem })).stdout;
  const [rootText, interText, leafText] = await Promise.all([text(root.certPem), text(intermediate.certPem), text(certPem)]);
  assert.match(rootText, /Basic Constraints: critical\n\s*CA:TRUE, pathlen:1/);
  assert.match(rootText, /Key Usage: critical\n\s*Certificate Sign, CRL Sign\n/);
  assert.match(rootText, /Public-Key: \(256 bit\)/);
  assert.match(interText, /Basic Constraints: critical\n\s*CA:TRUE, pathlen:0/);
  assert.match(leafText, /Basic Constraints: critical\n\s*CA:FALSE/);
  assert.match(leafText, /Key Usage: critical\n\s*Digital Signature\n/);
  assert.match(leafText, /Extended Key Usage: *\n\s*TLS Web Server Authentication\n/);
  const [r, i, l] = [root.certPem, intermediate.certPem, certPem].map((p) => parseCertificate(p));
  assert.deepEqual(i?.authorityKeyIdentifier, r?.subjectKeyIdentifier);
  assert.deepEqual(l?.authorityKeyIdentifier, i?.subjectKeyIdentifier);
  assert.equal(l?.subjectCommonName, 'a.test');
});

test('lifetimes: root 10 years, intermediate 1 year, leaf 7 days by default or lifetimeMs, backdated a minute', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const root = await createRootCa({ now, commonName: 'Test Root' });
  const intermediate = await createIntermediateCa(root, { now });
  const keyPem = await generatePrivateKeyPem('p256');
  const leaf = parseCertificate((await issueLeafCertificate({ issuer: intermediate, names: ['a.test'], keyPem, now })).certPem);
  const short = parseCertificate((await issueLeafCertificate({ issuer: intermediate, names: ['a.test'], keyPem, now, lifetimeMs: 3600_000 })).certPem);
  assert.equal(parseCertificate(root.certPem).subjectCommonName, 'Test Root');
  assert.equal(parseCertificate(root.certPem).notAfter.getTime(), now.getTime() + 3650 * DAY);
  assert.equal(parseCertificate(intermediate.certPem).notAfter.getTime(), now.getTime() + 365 * DAY);
  assert.equal(leaf.notBefore.getTime(), now.getTime() - 60_000);
  assert.equal(leaf.notAfter.getTime(), now.getTime() + 7 * DAY);
  assert.equal(short.notAfter.getTime(), now.getTime() + 3600_000);
});

test('a leaf never outlives its issuer, and an expired or mismatched issuer is refused', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const root = await createRootCa({ now });
  const intermediate = await createIntermediateCa(root, { now });
  const keyPem = await generatePrivateKeyPem('p256');
  const late = new Date(now.getTime() + 364 * DAY);
  const leaf = parseCertificate((await issueLeafCertificate({ issuer: intermediate, names: ['a.test'], keyPem, now: late })).certPem);
  assert.equal(leaf.notAfter.getTime(), parseCertificate(intermediate.certPem).notAfter.getTime());
  const isX509 = (err: unknown): boolean => err instanceof MyServerError && err.code === 'MS_ERR_X509';
  await assert.rejects(issueLeafCertificate({ issuer: intermediate, names: ['a.test'], keyPem, now: new Date(now.getTime() + 400 * DAY) }), isX509);
  const mismatched: CertifiedKey = { certPem: intermediate.certPem, keyPem: root.keyPem };
  await assert.rejects(issueLeafCertificate({ issuer: mismatched, names: ['a.test'], keyPem }), isX509);
});

test('chainPem is the leaf then the intermediate, without the root', async () => {
  const { root, intermediate, certPem, chainPem } = await makeChain(['a.test']);
  const chain = splitPemChain(chainPem);
  assert.deepEqual(chain, [certPem, intermediate.certPem]);
  assert.ok(!chainPem.includes(root.certPem.trim()));
});

/** A TLS server with `chainPem`; the client trusts only `rootPem`. Resolves with the client's outcome. */
async function handshake(keyPem: string, chainPem: string, rootPem: string | undefined, connect: tls.ConnectionOptions): Promise<{ authorized: boolean; error?: string }> {
  const server = tls.createServer({ key: keyPem, cert: chainPem }, (socket) => socket.end());
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const socket = tls.connect({ host: '127.0.0.1', port, ...(rootPem === undefined ? {} : { ca: rootPem }), ...connect });
    return await new Promise((resolve) => {
      socket.once('secureConnect', () => {
        resolve({ authorized: socket.authorized });
        socket.destroy();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve({ authorized: false, error: err.code ?? err.message }));
    });
  } finally {
    server.close();
  }
}

test('a real TLS client trusting only the root accepts the leaf for its DNS name and its IP address', async () => {
  const { root, keyPem, chainPem } = await makeChain(['a.test', '127.0.0.1'], 'rsa2048');
  assert.deepEqual(await handshake(keyPem, chainPem, root.certPem, { servername: 'a.test' }), { authorized: true });
  // No SNI: Node checks the connected IP against the iPAddress SAN.
  assert.deepEqual(await handshake(keyPem, chainPem, root.certPem, {}), { authorized: true });
});

test('a TLS client rejects the leaf for another name or without the root (the handshake test can fail)', async () => {
  const { root, keyPem, chainPem } = await makeChain(['a.test']);
  assert.equal((await handshake(keyPem, chainPem, root.certPem, { servername: 'b.test' })).error, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.equal((await handshake(keyPem, chainPem, undefined, { servername: 'a.test' })).error, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
});

test('a leaf for IP addresses only has an empty subject, a critical SAN, and still verifies over TLS', async () => {
  const { root, keyPem, certPem, chainPem } = await makeChain(['127.0.0.1', '::1']);
  const info = parseCertificate(certPem);
  assert.equal(info.subjectCommonName, undefined);
  assert.deepEqual(info.ipAddresses, ['127.0.0.1', '::1']);
  assert.equal(info.extensions.find((e) => e.oid === '2.5.29.17')?.critical, true);
  assert.deepEqual(await handshake(keyPem, chainPem, root.certPem, {}), { authorized: true });
});

test('an IPv4-mapped IPv6 name gets the right 16 iPAddress bytes, as openssl and node:crypto read them', async () => {
  const { certPem } = await makeChain(['::FFFF:1.2.3.4']);
  const text = (await openssl(['x509', '-noout', '-ext', 'subjectAltName'], { input: certPem })).stdout;
  assert.match(text, /IP Address:0:0:0:0:0:FFFF:102:304\n/);
  assert.deepEqual(parseCertificate(certPem).ipAddresses, ['::ffff:1.2.3.4']);
  assert.ok(new X509Certificate(certPem).checkIP('::ffff:1.2.3.4'));
});

test('a CA common name is written literally, even with a leading # or RFC 4514 specials', async () => {
  const root = await createRootCa({ commonName: '#00 Test, O=Root+CN=x' });
  const intermediate = await createIntermediateCa(root, { commonName: '#00 Test, O=Intermediate' });
  assert.equal(parseCertificate(root.certPem).subjectCommonName, '#00 Test, O=Root+CN=x');
  const leaf = parseCertificate((await issueLeafCertificate({ issuer: intermediate, names: ['a.test'], keyPem: await generatePrivateKeyPem('p256') })).certPem);
  assert.equal(leaf.issuerCommonName, '#00 Test, O=Intermediate');
  const subject = (await openssl(['x509', '-noout', '-subject', '-nameopt', 'multiline'], { input: root.certPem })).stdout;
  assert.match(subject, /commonName\s+= #00 Test, O=Root\+CN=x\n/);
});

test('issued serials are positive, minimally encoded INTEGERs that openssl reads as serialHex says', async () => {
  const root = await createRootCa();
  const intermediate = await createIntermediateCa(root);
  const keyPem = await generatePrivateKeyPem('p256');
  const serials = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const { certPem } = await issueLeafCertificate({ issuer: intermediate, names: ['a.test'], keyPem });
    const info = parseCertificate(certPem);
    const bytes = Buffer.from(info.serialNumber);
    // DER: a 0x00 sign byte only in front of a set top bit, never otherwise (X.690 §8.3.2).
    if (bytes[0] === 0) assert.ok(((bytes[1] ?? 0) & 0x80) !== 0, bytes.toString('hex'));
    else assert.equal((bytes[0] ?? 0) & 0x80, 0, bytes.toString('hex'));
    assert.ok(bytes.length >= 9, 'at least 64 random bits'); // CA/B Forum BR §7.1
    const printed = (await openssl(['x509', '-noout', '-serial'], { input: certPem })).stdout;
    assert.equal(printed.trim(), `serial=${info.serialHex.toUpperCase()}`);
    serials.add(info.serialHex);
  }
  assert.equal(serials.size, 8);
});
