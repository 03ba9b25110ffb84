import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identifierForHost, identifierForServerName, identifierKey } from '../../../src/challenges/identifiers.ts';

test('identifierForServerName normalises SNI names and maps reverse-DNS names to IPs', () => {
  const v6 = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
  const table: [string, string | undefined][] = [
    ['A.Test', 'a.test'],
    ['a.test.', 'a.test'],
    ['1.0.0.127.in-addr.arpa', '127.0.0.1'],
    ['1.0.0.127.IN-ADDR.ARPA.', '127.0.0.1'],
    [v6, '2001:db8::1'],
    ['999.0.0.127.in-addr.arpa', undefined],
    ['../a.test', undefined],
    ['a..test', undefined],
    ['a/b', undefined],
    ['', undefined],
    ['a.test\0', undefined],
  ];
  for (const [input, expected] of table) assert.equal(identifierForServerName(input), expected, input);
});

test('identifierForHost drops ports and brackets and rejects malformed hosts', () => {
  const table: [string | undefined, string | undefined][] = [
    ['a.test', 'a.test'],
    ['A.TEST:8080', 'a.test'],
    ['127.0.0.1:80', '127.0.0.1'],
    ['[2001:DB8::1]:80', '2001:db8::1'],
    ['[::1]', '::1'],
    ['::1', '::1'],
    ['[::1]x', undefined],
    ['[a.test]', undefined],
    ['a.test:80:80', undefined],
    ['a b', undefined],
    [undefined, undefined],
    ['', undefined],
  ];
  for (const [input, expected] of table) assert.equal(identifierForHost(input), expected, String(input));
});

test('identifierKey checks the value against its identifier type', () => {
  assert.equal(identifierKey({ type: 'dns', value: 'WWW.A.Test.' }), 'www.a.test');
  assert.equal(identifierKey({ type: 'ip', value: '2001:0db8::0001' }), '2001:db8::1');
  assert.equal(identifierKey({ type: 'ip', value: 'a.test' }), undefined);
  assert.equal(identifierKey({ type: 'dns', value: 'a/../b' }), undefined);
});
