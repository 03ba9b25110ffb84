import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MyServerError } from '../../../src/errors.ts';
import { classifyNames, ipAddressBytes, ipAddressText, normalizeIpAddress } from '../../../src/x509/names.ts';

test('IP literals round-trip through iPAddress bytes in canonical form', () => {
  const table: [string, string, string][] = [
    ['192.0.2.1', 'c0000201', '192.0.2.1'],
    ['::1', '00000000000000000000000000000001', '::1'],
    ['[2001:DB8:0:0:0:0:0:1]', '20010db8000000000000000000000001', '2001:db8::1'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
    ['fe80::', 'fe800000000000000000000000000000', 'fe80::'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
  ];
  for (const [input, hex, text] of table) {
    assert.equal(ipAddressBytes(input).toString('hex'), hex, input);
    assert.equal(ipAddressText(Buffer.from(hex, 'hex')), text, input);
    assert.equal(normalizeIpAddress(input), text, input);
  }
  assert.equal(ipAddressText(new Uint8Array(8)), undefined);
  assert.equal(normalizeIpAddress('fe80::1%eth0'), undefined);
});

test('classifyNames splits, normalises and de-duplicates, keeping order', () => {
  assert.deepEqual(classifyNames(['B.test.', '::1', 'b.test', '*.c.test', '0:0::1', '10.0.0.1']), {
    dnsNames: ['b.test', '*.c.test'],
    ipAddresses: ['::1', '10.0.0.1'],
  });
  for (const bad of ['a b', 'a..b', '*', 'a.*.b', 'é.test', '']) {
    assert.throws(() => classifyNames([bad]), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_X509', bad);
  }
});

test('classifyNames refuses an "xn--" label that is no valid punycode, before it can reach a CSR', () => {
  assert.deepEqual(classifyNames(['xn--bcher-kva.test']).dnsNames, ['xn--bcher-kva.test']);
  for (const bad of ['xn--zz.test', 'a.xn--a.test', 'xn--cafe-yvc.test']) {
    assert.throws(() => classifyNames([bad]), /not a valid IDNA A-label/, bad);
  }
});
