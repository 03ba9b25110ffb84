import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { MyServerError } from '../../../src/errors.ts';
import { certificateMatchesKey, parseCertificate } from '../../../src/x509/certificate.ts';
import { createTlsAlpnChallengeCertificate } from '../../../src/x509/tls-alpn-01.ts';
import { openssl } from './openssl.ts';

const KEY_AUTHORIZATION = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI';

test('the challenge certificate carries a critical acmeIdentifier whose value is 04 20 || SHA-256(keyAuthorization)', async () => {
  const { certPem } = await createTlsAlpnChallengeCertificate({ type: 'dns', value: 'A.Test' }, KEY_AUTHORIZATION);
  const info = parseCertificate(certPem);
  const acme = info.extensions.filter((e) => e.oid === '1.3.6.1.5.5.7.1.31');
  assert.equal(acme.length, 1);
  const expected = Buffer.concat([Buffer.from([0x04, 0x20]), createHash('sha256').update(KEY_AUTHORIZATION).digest()]);
  assert.deepEqual(Buffer.from(acme[0]?.value ?? []), expected);
  assert.equal(acme[0]?.critical, true);
  // RFC 8737 §3: a single dNSName equal to the identifier.
  assert.deepEqual(info.dnsNames, ['a.test']);
  assert.deepEqual(info.ipAddresses, []);
});

test('openssl sees the acmeIdentifier extension as critical with the same digest', async () => {
  const { certPem } = await createTlsAlpnChallengeCertificate({ type: 'dns', value: 'a.test' }, KEY_AUTHORIZATION);
  const dump = await openssl(['asn1parse', '-inform', 'PEM'], { input: certPem });
  assert.equal(dump.code, 0);
  // OBJECT :1.3.6.1.5.5.7.1.31, then BOOLEAN :255 (critical), then the OCTET STRING holding 04 20 <digest>.
  const lines = dump.stdout.split('\n');
  const at = lines.findIndex((l) => l.includes(':1.3.6.1.5.5.7.1.31'));
  assert.ok(at > 0, dump.stdout);
  assert.match(lines[at + 1] ?? '', /BOOLEAN\s+:255/);
  const digest = createHash('sha256').update(KEY_AUTHORIZATION).digest('hex').toUpperCase();
  assert.match(lines[at + 2] ?? '', new RegExp(`OCTET STRING\\s+\\[HEX DUMP\\]:0420${digest}`));
});

test('the challenge certificate is self-signed and comes with its P-256 key', async () => {
  const { certPem, keyPem } = await createTlsAlpnChallengeCertificate({ type: 'dns', value: 'a.test' }, KEY_AUTHORIZATION);
  const cert = new X509Certificate(certPem);
  assert.ok(cert.verify(cert.publicKey));
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(certificateMatchesKey(certPem, keyPem));
});

test('an IP identifier (RFC 8738) gets a single iPAddress SAN and no dNSName', async () => {
  const { certPem } = await createTlsAlpnChallengeCertificate({ type: 'ip', value: '2001:DB8::0:1' }, KEY_AUTHORIZATION);
  const info = parseCertificate(certPem);
  assert.deepEqual(info.ipAddresses, ['2001:db8::1']);
  assert.deepEqual(info.dnsNames, []);
  assert.ok(new X509Certificate(certPem).checkIP('2001:db8::1'));
});

test('createTlsAlpnChallengeCertificate rejects identifiers that are not what their type says', async () => {
  for (const identifier of [{ type: 'ip', value: 'a.test' }, { type: 'dns', value: 'a/b' }] as const) {
    await assert.rejects(createTlsAlpnChallengeCertificate(identifier, KEY_AUTHORIZATION), MyServerError);
  }
});
