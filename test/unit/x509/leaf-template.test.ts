/**
 * The local CA's leaves are assembled from DER and signed with node:crypto (issue 12); before,
 * @peculiar/x509 built them. These tests hold the template to the library's output field by field,
 * and the DER reader behind parseCertificate to the library's reading.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { parseCertificate, readTbs, splitPemChain } from '../../../src/x509/certificate.ts';
import { generatePrivateKeyPem } from '../../../src/x509/keys.ts';
import { createIntermediateCa, createRootCa, issueLeafCertificate, issueLeafCertificateWithLibrary, leafSigner } from '../../../src/x509/local-ca.ts';
import { x509 } from '../../../src/x509/peculiar.ts';
import { createTlsAlpnChallengeCertificate } from '../../../src/x509/tls-alpn-01.ts';
import { openssl, withTempDir } from './openssl.ts';

const root = await createRootCa();
const intermediate = await createIntermediateCa(root);
const p256 = await generatePrivateKeyPem('p256');
const rsa = await generatePrivateKeyPem('rsa2048');
const LONG = `${'a'.repeat(60)}.test`; // 65 characters: too long for a commonName

const CASES: { what: string; names: string[]; keyPem: string }[] = [
  { what: 'one DNS name', names: ['a.test'], keyPem: p256 },
  { what: 'several DNS names and addresses', names: ['a.test', '*.b.test', '192.0.2.1', '2001:db8::7', '::ffff:1.2.3.4'], keyPem: p256 },
  { what: 'IP addresses only (empty subject, critical SAN)', names: ['127.0.0.1', '::1'], keyPem: p256 },
  { what: 'a first name too long for a commonName', names: [LONG, 'b.test'], keyPem: p256 },
  { what: 'an RSA key (keyEncipherment too)', names: ['rsa.test'], keyPem: rsa },
];

for (const c of CASES) {
  test(`the DER template writes what @peculiar/x509 wrote, field by field: ${c.what}`, async () => {
    const now = new Date('2026-12-05T01:02:03.456Z');
    const fast = await issueLeafCertificate({ issuer: intermediate, names: c.names, keyPem: c.keyPem, now });
    const reference = await issueLeafCertificateWithLibrary({ issuer: intermediate, names: c.names, keyPem: c.keyPem, now });
    const a = readTbs(Buffer.from(parseCertificate(fast.certPem).der));
    const b = readTbs(Buffer.from(parseCertificate(reference.certPem).der));
    assert.deepEqual(a.issuer.raw, b.issuer.raw);
    assert.deepEqual(a.subject.raw, b.subject.raw);
    assert.equal(a.notBefore.getTime(), b.notBefore.getTime());
    assert.equal(a.notAfter.getTime(), b.notAfter.getTime());
    assert.deepEqual(a.publicKeyBits, b.publicKeyBits);
    // Same extensions, same order, same criticality, same bytes (SKI, AKI and SAN included).
    assert.deepEqual(a.extensions, b.extensions);
    // 16 random bytes as a positive, minimal INTEGER (RFC 5280 §4.1.2.2, X.690 §8.3.2): a 0x00 sign
    // byte when the top bit is set; leading zero bytes dropped, so 1 serial in 256 has 15 bytes (the
    // old check of 16–17 failed then). Fewer than 9 (under 64 bits) would take 8 zero bytes: 2^-64.
    assert.ok(a.serial.length >= 9 && a.serial.length <= 17, `serial of ${a.serial.length} bytes`);
    assert.ok(a.serial[0]! < 0x80, 'positive');
    if (a.serial[0] === 0) assert.ok(a.serial[1]! >= 0x80, 'a sign byte only where the top bit needs it');
    assert.equal(fast.chainPem, fast.certPem + reference.chainPem.slice(reference.certPem.length));
    const fastCert = new X509Certificate(fast.certPem);
    const refCert = new X509Certificate(reference.certPem);
    assert.equal(fastCert.toLegacyObject().subjectaltname, refCert.toLegacyObject().subjectaltname);
    assert.notEqual(fastCert.serialNumber, refCert.serialNumber);
    // The signature verifies with the intermediate's key, which the root signed.
    const inter = new X509Certificate(intermediate.certPem);
    assert.equal(fastCert.verify(inter.publicKey), true);
    assert.equal(fastCert.checkIssued(inter), true);
    assert.equal(inter.verify(new X509Certificate(root.certPem).publicKey), true);
    assert.equal(fastCert.checkPrivateKey((await import('node:crypto')).createPrivateKey(c.keyPem)), true);
  });
}

test('openssl verifies a template leaf up to the root, as a TLS server certificate with the key usages of before', async () => {
  await withTempDir(async (dir) => {
    const { chainPem } = await issueLeafCertificate({ issuer: intermediate, names: ['a.test', '192.0.2.9'], keyPem: p256 });
    const [leaf, inter] = splitPemChain(chainPem);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'root.pem'), root.certPem);
    await writeFile(join(dir, 'inter.pem'), inter ?? '');
    await writeFile(join(dir, 'leaf.pem'), leaf ?? '');
    const verify = await openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'inter.pem'), join(dir, 'leaf.pem')]);
    assert.equal(verify.code, 0, verify.stderr + verify.stdout);
    const text = await openssl(['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text']);
    assert.match(text.stdout, /X509v3 Key Usage: critical\n\s*Digital Signature\n/);
    assert.match(text.stdout, /X509v3 Basic Constraints: critical\n\s*CA:FALSE/);
    assert.match(text.stdout, /X509v3 Extended Key Usage: \n\s*TLS Web Server Authentication/);
    assert.match(text.stdout, /DNS:a\.test, IP Address:192\.0\.2\.9/);
    assert.match(text.stdout, /Signature Algorithm: ecdsa-with-SHA256/);
  });
});

test('a template leaf never outlives its issuer and an expired issuer is refused', async () => {
  const signer = leafSigner(intermediate);
  const late = new Date(signer.notAfter - 3600_000);
  const leaf = parseCertificate((await issueLeafCertificate({ issuer: intermediate, signer, names: ['a.test'], keyPem: p256, now: late })).certPem);
  assert.equal(leaf.notAfter.getTime(), Math.floor(signer.notAfter / 1000) * 1000);
  await assert.rejects(issueLeafCertificate({ issuer: intermediate, signer, names: ['a.test'], keyPem: p256, now: new Date(signer.notAfter + 1000) }), /issuing local certificate/);
  assert.throws(() => leafSigner({ certPem: intermediate.certPem, keyPem: p256 }), /does not match/);
});

/** What the library reads from a certificate, in parseCertificate's terms. */
function libraryFields(pem: string): Record<string, unknown> {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  return {
    dnsNames: Array.from(san).filter((n) => n.type === "dns").map((n) => n.value),
    subjectCommonName: cert.subjectName.getField('CN').at(-1),
    issuerCommonName: cert.issuerName.getField('CN').at(-1),
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    serialHex: cert.serialNumber.toLowerCase(),
    ski: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    aki: cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    extensions: Array.from(cert.extensions, (e) => ({ oid: e.type, critical: e.critical, value: Buffer.from(e.value).toString('hex') })),
  };
}

function ourFields(pem: string): Record<string, unknown> {
  const info = parseCertificate(pem);
  return {
    dnsNames: [...info.dnsNames],
    subjectCommonName: info.subjectCommonName,
    issuerCommonName: info.issuerCommonName,
    notBefore: info.notBefore.getTime(),
    notAfter: info.notAfter.getTime(),
    serialHex: info.serialHex,
    ski: info.subjectKeyIdentifier === undefined ? undefined : Buffer.from(info.subjectKeyIdentifier).toString('hex'),
    aki: info.authorityKeyIdentifier === undefined ? undefined : Buffer.from(info.authorityKeyIdentifier).toString('hex'),
    extensions: info.extensions.map((e) => ({ oid: e.oid, critical: e.critical, value: Buffer.from(e.value).toString('hex') })),
  };
}

test('parseCertificate\'s DER reader reads what @peculiar/x509 reads, for every kind of certificate my-server handles', async () => {
  const pems = [
    root.certPem,
    intermediate.certPem,
    (await issueLeafCertificate({ issuer: intermediate, names: ['a.test', '*.b.test', '10.0.0.1'], keyPem: p256 })).certPem,
    (await issueLeafCertificate({ issuer: intermediate, names: ['::1'], keyPem: rsa })).certPem,
    (await createTlsAlpnChallengeCertificate({ type: 'dns', value: 'c.test' }, 'token.thumbprint')).certPem,
  ];
  await withTempDir(async (dir) => {
    // Independent encoder, several RDNs (the last CN counts), a BMPString CN, a serial with its top bit set.
    const made = await openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'),
      '-subj', '/CN=first/O=Org/CN=Zoë last', '-utf8', '-days', '3', '-set_serial', '0xff0102', '-addext', 'subjectAltName=DNS:x.test,IP:10.1.2.3',
    ]);
    assert.equal(made.code, 0, made.stderr);
    pems.push(await readFile(join(dir, 'c.pem'), 'utf8'));
  });
  for (const pem of pems) assert.deepEqual(ourFields(pem), libraryFields(pem));
  assert.equal(parseCertificate(pems.at(-1) ?? '').subjectCommonName, 'Zoë last');
  assert.equal(parseCertificate(pems.at(-1) ?? '').serialHex, 'ff0102');
});
