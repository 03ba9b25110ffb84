import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLocalOnlyName, normalizeName } from '../../../src/certs/names.ts';

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
    ['  a.test  ', 'a.test'],
    ['localhost', 'localhost'],
    ['_acme-challenge.a.test', '_acme-challenge.a.test'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['a-b.c-d.test', 'a-b.c-d.test'],
    ['1.2.3.999', '1.2.3.999'],
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
