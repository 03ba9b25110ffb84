import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MyServerError } from '../../../src/errors.ts';
import { certificateMatchesKey, leafMatches, parseCertificate, publicKeyInPrivateKeyPem, splitPemChain } from '../../../src/x509/certificate.ts';
import { generatePrivateKeyPem } from '../../../src/x509/keys.ts';
import { openssl, withTempDir } from './openssl.ts';

/** A certificate made by openssl itself, so parsing is checked against an independent encoder. */
async function opensslCertificate(dir: string, serial: string, san = 'DNS:a.test,DNS:*.b.test,IP:192.0.2.1,IP:2001:db8:0:0::7'): Promise<{ pem: string; keyPem: string; text: string }> {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const made = await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-subj', '/O=Example/CN=Example Test Cert', '-days', '30', '-set_serial', serial,
    '-addext', `subjectAltName=${san}`,
  ]);
  assert.equal(made.code, 0, made.stderr);
  const text = await openssl(['x509', '-in', cert, '-noout', '-text', '-dates', '-serial']);
  return { pem: await readFile(cert, 'utf8'), keyPem: await readFile(key, 'utf8'), text: text.stdout };
}

test('parseCertificate reads names, validity, serial and key identifiers as openssl reports them', async () => {
  await withTempDir(async (dir) => {
    const { pem, text } = await opensslCertificate(dir, '0x80a1b2c3d4e5f60718');
    const info = parseCertificate(pem);
    assert.deepEqual(info.dnsNames, ['a.test', '*.b.test']);
    assert.deepEqual(info.ipAddresses, ['192.0.2.1', '2001:db8::7']);
    assert.equal(info.subjectCommonName, 'Example Test Cert');
    assert.equal(info.issuerCommonName, 'Example Test Cert');
    // A serial with its high bit set needs a 0x00 sign byte in DER; ARI's CertID keeps it.
    assert.deepEqual(Buffer.from(info.serialNumber).toString('hex'), '0080a1b2c3d4e5f60718');
    assert.equal(info.serialHex, '80a1b2c3d4e5f60718');
    assert.match(text, /serial=80A1B2C3D4E5F60718/);
    const notAfter = /notAfter=(.+)/.exec(text)?.[1] ?? '';
    assert.equal(info.notAfter.getTime(), new Date(notAfter).getTime());
    const ski = /Subject Key Identifier: *\n\s*([0-9A-F:]+)/.exec(text)?.[1]?.replaceAll(':', '').toLowerCase();
    assert.equal(Buffer.from(info.subjectKeyIdentifier ?? []).toString('hex'), ski);
    assert.equal(Buffer.from(info.authorityKeyIdentifier ?? []).toString('hex'), ski); // self-signed: AKI = SKI
    assert.equal(info.isCa, true); // openssl req -x509 adds CA:TRUE
    assert.equal(info.pem, pem.replace(/\r\n/g, '\n'));
  });
});

test('parseCertificate takes DER as well as PEM and gives the same fields', async () => {
  await withTempDir(async (dir) => {
    const { pem } = await opensslCertificate(dir, '12345');
    const fromPem = parseCertificate(pem);
    const fromDer = parseCertificate(fromPem.der);
    assert.deepEqual(fromDer, fromPem);
    assert.equal(fromDer.serialHex, '3039');
  });
});

test('parseCertificate rejects garbage and PEM without a certificate with MS_ERR_X509', () => {
  const isX509 = (err: unknown): boolean => err instanceof MyServerError && err.code === 'MS_ERR_X509';
  assert.throws(() => parseCertificate('no pem here'), isX509);
  assert.throws(() => parseCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01])), isX509);
  assert.throws(() => parseCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), isX509);
});

test('splitPemChain returns each certificate in order and skips keys and CRLF noise', async () => {
  await withTempDir(async (dir) => {
    const first = await opensslCertificate(dir, '1');
    const second = await opensslCertificate(dir, '2');
    const bundle = `${first.keyPem}\r\n${first.pem.replace(/\n/g, '\r\n')}junk\n${second.pem}`;
    const parts = splitPemChain(bundle);
    assert.equal(parts.length, 2);
    assert.deepEqual(parts.map((p) => parseCertificate(p).serialHex), ['01', '02']);
    assert.equal(parts[1], second.pem);
  });
});

test('certificateMatchesKey is true only for the certificate\'s own key', async () => {
  await withTempDir(async (dir) => {
    const { pem, keyPem } = await opensslCertificate(dir, '7');
    assert.equal(certificateMatchesKey(pem, keyPem), true);
    assert.equal(certificateMatchesKey(pem, await generatePrivateKeyPem('p256')), false);
    assert.equal(certificateMatchesKey(pem, 'garbage'), false);
  });
});

test('leafMatches agrees with certificateMatchesKey and parseCertificate\'s serial, sign byte included', async () => {
  await withTempDir(async (dir) => {
    // 0x80…: DER adds a 0x00 sign byte, which serialHex leaves out; 0x7f…: none.
    for (const serial of ['0x80a1b2c3d4e5f60718', '0x7fa1b2c3d4e5f60718', '7']) {
      const { pem, keyPem } = await opensslCertificate(dir, serial);
      const serialHex = parseCertificate(pem).serialHex;
      assert.equal(leafMatches(pem, keyPem, serialHex), true, serial);
      assert.equal(leafMatches(pem, keyPem, `${serialHex}00`), false, `${serial}: another serial`);
      assert.equal(leafMatches(pem, await generatePrivateKeyPem('p256'), serialHex), false, `${serial}: another key`);
      assert.equal(leafMatches(pem, 'garbage', serialHex), false, `${serial}: garbage key`);
      assert.equal(leafMatches('garbage', keyPem, serialHex), false, `${serial}: garbage chain`);
    }
  });
});

test('parseCertificate still reads DNS and IP names when the SAN also holds an otherName it has no text for', async () => {
  await withTempDir(async (dir) => {
    const { pem } = await opensslCertificate(dir, '9', 'otherName:1.3.6.1.5.5.7.8.9;UTF8:me@a.test,DNS:c.test,IP:::ffff:1.2.3.4');
    const info = parseCertificate(pem);
    assert.deepEqual(info.dnsNames, ['c.test']);
    assert.deepEqual(info.ipAddresses, ['::ffff:1.2.3.4']);
  });
});

test('leafMatches reads the public key from the key file where it can, in every form, and asks OpenSSL where it cannot', async () => {
  await withTempDir(async (dir) => {
    const run = async (args: string[]): Promise<void> => {
      const r = await openssl(args, { cwd: dir });
      assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
    };
    const cases: { name: string; keygen: string[]; forms: { label: string; args: string[]; read: boolean }[] }[] = [
      {
        name: 'P-256',
        keygen: ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'k.pem'],
        forms: [
          { label: 'PKCS#8', args: [], read: true },
          { label: 'SEC1', args: ['ec', '-in', 'k.pem', '-out', 'form.pem'], read: true },
          { label: 'SEC1 without its point (OpenSSL computes it)', args: ['ec', '-in', 'k.pem', '-no_public', '-out', 'form.pem'], read: false },
          { label: 'SEC1 with a compressed point (OpenSSL decides)', args: ['ec', '-in', 'k.pem', '-conv_form', 'compressed', '-out', 'form.pem'], read: false },
        ],
      },
      {
        name: 'RSA 2048',
        keygen: ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'k.pem'],
        forms: [
          { label: 'PKCS#8', args: [], read: true },
          { label: 'PKCS#1', args: ['rsa', '-in', 'k.pem', '-traditional', '-out', 'form.pem'], read: true },
        ],
      },
      { name: 'Ed25519', keygen: ['genpkey', '-algorithm', 'ED25519', '-out', 'k.pem'], forms: [{ label: 'PKCS#8 v1 (no public key)', args: [], read: false }] },
    ];
    const other = await generatePrivateKeyPem('p256');
    const otherRsa = await generatePrivateKeyPem('rsa2048');
    // The keys my-server generates (and stores) take the DER path.
    assert.ok(publicKeyInPrivateKeyPem(other) !== undefined && publicKeyInPrivateKeyPem(otherRsa) !== undefined);
    await writeFile(join(dir, 'other-ec.pem'), other);
    await writeFile(join(dir, 'other-rsa.pem'), otherRsa);
    await run(['ec', '-in', 'other-ec.pem', '-out', 'other-sec1.pem']);
    await run(['rsa', '-in', 'other-rsa.pem', '-traditional', '-out', 'other-pkcs1.pem']);
    const others: [string, string][] = [
      ['another P-256 key (PKCS#8)', other],
      ['another P-256 key (SEC1)', await readFile(join(dir, 'other-sec1.pem'), 'utf8')],
      ['another RSA key (PKCS#8)', otherRsa],
      ['another RSA key (PKCS#1)', await readFile(join(dir, 'other-pkcs1.pem'), 'utf8')],
    ];
    for (const [label, wrong] of others) assert.ok(publicKeyInPrivateKeyPem(wrong) !== undefined, `${label}: read from the DER`);
    for (const c of cases) {
      await run(c.keygen);
      await run(['req', '-new', '-x509', '-key', 'k.pem', '-subj', '/CN=leaf.test', '-days', '2', '-set_serial', '0x42', '-out', 'c.pem']);
      const pem = await readFile(join(dir, 'c.pem'), 'utf8');
      for (const form of c.forms) {
        if (form.args.length > 0) await run(form.args);
        const keyPem = await readFile(join(dir, form.args.length > 0 ? 'form.pem' : 'k.pem'), 'utf8');
        assert.equal(publicKeyInPrivateKeyPem(keyPem) !== undefined, form.read, `${c.name} ${form.label}: read from the DER alone?`);
        assert.equal(leafMatches(pem, keyPem, '42'), true, `${c.name} ${form.label}`);
        assert.equal(leafMatches(pem, keyPem, '43'), false, `${c.name} ${form.label}: another serial`);
        // Other keys, in each form the DER path reads: the bytes compared differ.
        for (const [label, wrong] of others) assert.equal(leafMatches(pem, wrong, '42'), false, `${c.name} ${form.label}: ${label}`);
        // Two private key blocks: OpenSSL reads the first, whatever its form, and so must the check.
        const firstWrong = `${others[1]![1]}${keyPem}`;
        assert.equal(publicKeyInPrivateKeyPem(firstWrong), undefined, `${c.name} ${form.label}: two key blocks go to OpenSSL`);
        assert.equal(leafMatches(pem, firstWrong, '42'), certificateMatchesKey(pem, firstWrong), `${c.name} ${form.label}: another key first`);
        assert.equal(leafMatches(pem, firstWrong, '42'), false);
      }
    }
  });
});
