import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSingleLabel, isValidALabel, normalizeName, toALabels } from '../../../src/certs/names.ts';
import { isLocalOnlyName } from '../../../src/config/adapt.ts';
import { onDemandRefusal } from '../../../src/certs/on-demand.ts';

const label63 = 'a'.repeat(63);
const label64 = 'a'.repeat(64);
/** 4 × 63 + 3 dots = 255 characters; trimmed below to the exact limits. */
const name253 = `${'a'.repeat(61)}.${label63}.${label63}.${label63}`;

test('normalizeName: table of accepted names and their normal form', () => {
  const cases: [string, string][] = [
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com'],
    ['A.LOCALHOST.', 'a.localhost'],
    ['localhost', 'localhost'],
    ['_acme-challenge.a.test', '_acme-challenge.a.test'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['a-b.c-d.test', 'a-b.c-d.test'],
    ['XN--BCHER-KVA.example', 'xn--bcher-kva.example'],
    ['xn--mnchen-3ya.de', 'xn--mnchen-3ya.de'],
    ['*.example.com', '*.example.com'],
    ['*.Example.Com.', '*.example.com'],
    // IP literals: as they are, IPv6 lower case and without brackets.
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[FE80::AB:1]', 'fe80::ab:1'],
    ['2001:DB8::1', '2001:db8::1'],
    [`${label63}.test`, `${label63}.test`],
    [name253, name253],
    [`${name253}.`, name253],
  ];
  assert.equal(name253.length, 253);
  for (const [raw, want] of cases) assert.equal(normalizeName(raw), want, JSON.stringify(raw));
});

test('normalizeName: table of rejected names', () => {
  const cases: string[] = [
    '',
    '.',
    ' ',
    'a..b',
    '.a.test',
    'a.test..',
    '-a.test',
    'a-.test',
    'a.-b.test',
    'a b.test',
    'a/b.test',
    'a:b',
    'bücher.example',
    `${label64}.test`,
    `a${name253}`,
    // Wildcard only as the whole leftmost label, and never alone.
    '*',
    '*.',
    'a.*.example.com',
    '*.*.example.com',
    'a*.example.com',
    '*a.example.com',
    'example.*',
    '[::1',
    '::1]',
    // Nothing is trimmed or cut: one byte outside the alphabet rejects the whole name (issue 7).
    '  a.test  ',
    ' a.test',
    'a.test ',
    'a.test\xa0',
    'a\tb.test',
    'a\nb.test',
    'a\0b.test',
    'a.test\0',
    'b\xfccher.test',
    'bÃ¼cher.test',
    // All-numeric but no address: no host name either (RFC 3696 §2, the TLD is never numeric).
    '1.2.3.999',
    '1.2.3',
    '256.1.1.1',
    // Zone identifiers have no place in a certificate or SNI.
    'fe80::1%eth0',
    '[fe80::1%25eth0]',
    // "xn--" labels that are no punycode of a valid U-label (RFC 5891 §5.4).
    'xn--zz.test',
    'xn--a.test',
    'xn--.test',
    'sub.xn--zz.test',
    'xn--cafe-yvc.test',
  ];
  for (const raw of cases) assert.equal(normalizeName(raw), undefined, JSON.stringify(raw));
});

test('normalizeName is idempotent on everything it accepts', () => {
  for (const raw of ['Example.COM.', '[::1]', '*.A.test', '127.0.0.1', name253]) {
    const once = normalizeName(raw);
    assert.ok(once !== undefined);
    assert.equal(normalizeName(once), once);
  }
});

test('isLocalOnlyName: local names and IP addresses go to the local CA, public names do not', () => {
  const local = ['localhost', 'a.localhost', '*.localhost', 'db.internal', 'printer.local', 'nas.home.arpa', '127.0.0.1', '10.0.0.1', '::1', 'fe80::1'];
  const publicNames = ['example.com', 'localhost.example.com', 'notlocalhost', 'mylocal', 'internal.example.com', 'a.localhost.com', 'local', 'home.arpa.example'];
  for (const n of local) assert.equal(isLocalOnlyName(n), true, n);
  for (const n of publicNames) assert.equal(isLocalOnlyName(n), false, n);
});

test('isValidALabel: real A-labels pass, undecodable or non-round-tripping ones do not', () => {
  for (const l of ['xn--bcher-kva', 'xn--mnchen-3ya', 'xn--caf-dma', 'xn--53h']) assert.equal(isValidALabel(l), true, l);
  for (const l of ['xn--zz', 'xn--a', 'xn--', 'xn--cafe-yvc', 'xn--bcher-kva-', 'xn---']) assert.equal(isValidALabel(l), false, l);
});

test('toALabels: U-labels a person writes become A-labels; what normalizeName accepts stays as it is', () => {
  const cases: [string, string | undefined][] = [
    ['bücher.example', 'xn--bcher-kva.example'],
    ['Bücher.Example.', 'xn--bcher-kva.example'],
    ['*.bücher.example', '*.xn--bcher-kva.example'],
    ['example.com', 'example.com'],
    ['xn--zz.test', undefined],
    ['a\0b.test', undefined],
    [' bücher.example', undefined],
  ];
  for (const [raw, want] of cases) assert.equal(toALabels(raw), want, JSON.stringify(raw));
});

test('isSingleLabel: one-label DNS names only, never an IP literal', () => {
  for (const n of ['test', 'localhost', 'intranet', 'a']) assert.equal(isSingleLabel(n), true, n);
  for (const n of ['a.test', '::1', '127.0.0.1', '*.test']) assert.equal(isSingleLabel(n), false, n);
});

test('onDemandRefusal: IP literals, wildcards, malformed names and single labels for a public CA are refused before ask', () => {
  const acme = { id: 'https://acme.example/dir' };
  const local = { id: 'local' };
  const refused: [string, { id: string }][] = [
    ['127.0.0.1', local],
    ['10.0.0.1', acme],
    ['1.2.3.4', local],
    ['::1', local],
    ['[::1]', local],
    ['2001:db8::1', acme],
    ['*.a.test', acme],
    ['test', acme],
    ['a', acme],
    ['xn--zz.test', acme],
    ['a\0b.test', local],
    [' a.test', acme],
    // Not normal form: the manager normalises first, so anything else came another way.
    ['A.test', acme],
  ];
  for (const [name, issuer] of refused) assert.notEqual(onDemandRefusal(name, issuer), undefined, `${JSON.stringify(name)} via ${issuer.id}`);
  const allowed: [string, { id: string }][] = [
    ['a.test', acme],
    ['xn--bcher-kva.test', acme],
    ['localhost', local],
    ['printer', local],
    ['a.localhost', local],
  ];
  for (const [name, issuer] of allowed) assert.equal(onDemandRefusal(name, issuer), undefined, `${name} via ${issuer.id}`);
});
