import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostWithoutPort, joinHostPort, requestAuthority, unmapIPv4, wildcardOf } from '../../../src/util/host.ts';

test('hostWithoutPort: the site key of an authority, for every form a Host header takes', () => {
  const cases: [string, string][] = [
    ['example.com', 'example.com'],
    ['Example.COM:8443', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:443', 'example.com'],
    ['[::1]:443', '::1'],
    ['[::1]', '::1'],
    ['[FE80::1]:80', 'fe80::1'],
    ['::1', '::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['127.0.0.1:8080', '127.0.0.1'],
    [' a.test ', 'a.test'],
    ['[::1', '[::1'],
    ['', ''],
  ];
  for (const [raw, want] of cases) assert.equal(hostWithoutPort(raw), want, JSON.stringify(raw));
});

test('requestAuthority: :authority first, then Host, else empty', () => {
  assert.equal(requestAuthority({ ':authority': 'h2.test', host: 'h1.test' }), 'h2.test');
  assert.equal(requestAuthority({ ':authority': '', host: 'h1.test' }), 'h1.test');
  assert.equal(requestAuthority({ host: 'h1.test:8080' }), 'h1.test:8080');
  assert.equal(requestAuthority({}), '');
});

test('joinHostPort brackets IPv6 literals only', () => {
  assert.equal(joinHostPort('10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(joinHostPort('backend.internal', 8080), 'backend.internal:8080');
  assert.equal(joinHostPort('::1', 8080), '[::1]:8080');
});

test('unmapIPv4 turns IPv4-mapped IPv6 into IPv4 and leaves every other address alone', () => {
  const cases: [string, string][] = [
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::FFFF:192.0.2.4', '192.0.2.4'],
    ['192.0.2.4', '192.0.2.4'],
    ['::1', '::1'],
    ['2001:db8::1', '2001:db8::1'],
    // Not a mapped IPv4 address, though it starts like one: stripping the prefix would invent "7f00:1".
    ['::ffff:7f00:1', '::ffff:7f00:1'],
    ['::ffff:', '::ffff:'],
    ['', ''],
  ];
  for (const [raw, want] of cases) assert.equal(unmapIPv4(raw), want, raw);
});

test('wildcardOf: a wildcard stands for exactly one leftmost label (RFC 6125 §6.4.3, as certmagic and Caddy)', () => {
  const cases: [string, string | undefined][] = [
    ['a.example.com', '*.example.com'],
    ['b.a.example.com', '*.a.example.com'],
    // One dot is enough: `*.test` covers `b.test` in site routing, so the certificate lookup agrees.
    ['example.com', '*.com'],
    ['b.test', '*.test'],
    ['localhost', undefined],
    ['', undefined],
    ['.example.com', undefined],
    ['example.', undefined],
    ['*.example.com', undefined],
    ['127.0.0.1', undefined],
    ['::1', undefined],
  ];
  for (const [name, want] of cases) assert.equal(wildcardOf(name), want, name);
  // Two labels more are never covered: x.b.test looks up *.b.test, never *.test.
  assert.notEqual(wildcardOf('x.b.test'), '*.test');
});
