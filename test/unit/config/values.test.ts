import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSiteAddress } from '../../../src/config/address.ts';
import { parseUpstream } from '../../../src/config/directives/upstream.ts';
import { ConfigError } from '../../../src/config/errors.ts';
import type { Token } from '../../../src/config/lexer.ts';
import { parseDuration } from '../../../src/config/values.ts';

function tok(text: string): Token {
  return { text, quote: '', newline: true, file: 'P', line: 3, col: 5, start: 0, end: text.length };
}

const durations: [string, number | undefined][] = [
  ['30s', 30_000],
  ['1m30s', 90_000],
  ['500ms', 500],
  ['2h', 7_200_000],
  ['1d', 86_400_000],
  ['1.5h', 5_400_000],
  ['1d12h', 129_600_000],
  ['250us', 0.25],
  ['0', 0],
  ['-1s', -1000],
  ['', undefined],
  ['5', undefined],
  ['5sec', undefined],
  ['1h30', undefined],
  ['s', undefined],
  ['1 s', undefined],
];

for (const [input, want] of durations) {
  test(`duration "${input}" is ${want === undefined ? 'invalid' : `${want} ms`}`, () => {
    assert.equal(parseDuration(input), want);
  });
}

const addresses: [string, Record<string, unknown>][] = [
  ['example.com', { host: 'example.com', wildcard: false }],
  ['*.example.com', { host: '*.example.com', wildcard: true }],
  ['example.com:8443', { host: 'example.com', port: 8443 }],
  ['http://example.com', { scheme: 'http', host: 'example.com' }],
  ['HTTPS://Example.COM.', { scheme: 'https', host: 'example.com' }],
  ['https://', { scheme: 'https', host: '' }],
  [':443', { host: '', port: 443 }],
  ['localhost', { host: 'localhost' }],
  ['127.0.0.1', { host: '127.0.0.1' }],
  ['[::1]', { host: '::1' }],
  ['[::1]:8443', { host: '::1', port: 8443 }],
  ['bücher.example', { host: 'xn--bcher-kva.example' }],
];

for (const [input, want] of addresses) {
  test(`site address "${input}" parses`, () => {
    const got = parseSiteAddress(tok(input));
    for (const [key, value] of Object.entries(want)) assert.deepEqual(got[key as keyof typeof got], value, key);
    assert.equal(got.original, input);
    assert.deepEqual(got.pos, { file: 'P', line: 3, col: 5 });
  });
}

const badAddresses: [string, RegExp][] = [
  ['foo*.example.com', /wildcard must be a whole leftmost label/],
  ['a.*.example.com', /wildcard must be a whole leftmost label/],
  ['*', /wildcard needs a domain/],
  ['example.com:0', /port 0 is out of range/],
  ['example.com:65536', /port 65536 is out of range/],
  ['example.com:', /missing port/],
  ['example.com:https', /port "https" is not a number/],
  ['ftp://example.com', /unsupported scheme "ftp"/],
  ['example.com/path', /paths in site addresses are not supported/],
  ['::1', /IPv6 addresses must be written in brackets/],
  ['[::g]', /is not an IPv6 address/],
  ['a..b', /is not a valid host name/],
  ['1.2.3', /is not a valid IPv4 address/],
  ['{host}', /placeholders are not allowed/],
];

for (const [input, why] of badAddresses) {
  test(`site address "${input}" is an error at its token`, () => {
    assert.throws(
      () => parseSiteAddress(tok(input)),
      (err: unknown) => err instanceof ConfigError && err.line === 3 && err.col === 5 && why.test(err.message),
    );
  });
}

const upstreams: [string, [string, string, number, string?][]][] = [
  ['localhost:8080', [['http', 'localhost', 8080]]],
  ['backend', [['http', 'backend', 80]]],
  ['http://backend', [['http', 'backend', 80]]],
  ['https://backend', [['https', 'backend', 443]]],
  ['https://backend:8443', [['https', 'backend', 8443]]],
  ['[::1]:9000', [['http', '::1', 9000]]],
  ['unix//run/app.sock', [['unix', '', 0, '/run/app.sock']]],
  [
    'h:8001-8003',
    [
      ['http', 'h', 8001],
      ['http', 'h', 8002],
      ['http', 'h', 8003],
    ],
  ],
];

for (const [input, want] of upstreams) {
  test(`upstream "${input}" parses`, () => {
    const got = parseUpstream(tok(input)).upstreams.map((u) => [u.scheme, u.host, u.port, ...(u.path !== undefined ? [u.path] : [])]);
    assert.deepEqual(got, want);
  });
}

const badUpstreams: [string, RegExp][] = [
  ['http://h:443', /http:\/\/ with port 443/],
  ['https://h:80', /https:\/\/ with port 80/],
  ['ws://h', /use http:\/\//],
  ['h:0', /ports must be 1-65535/],
  ['h:9-8', /reversed/],
  ['h:1-5000', /more than 1024 ports/],
  ['tcp/h:80', /only the unix\/ network prefix/],
  ['h:80/x', /may not have a path/],
  ['{upstream}', /placeholders are not supported/],
  ['unix/', /missing socket path/],
];

for (const [input, why] of badUpstreams) {
  test(`upstream "${input}" is an error at its token`, () => {
    assert.throws(
      () => parseUpstream(tok(input)),
      (err: unknown) => err instanceof ConfigError && err.col === 5 && why.test(err.message),
    );
  });
}
