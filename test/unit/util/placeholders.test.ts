import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import {
  expandPlaceholders,
  isKnownPlaceholder,
  placeholdersIn,
  resolvePlaceholder,
  type PlaceholderRequest,
  type PlaceholderScope,
} from '../../../src/util/placeholders.ts';

/** A client certificate's fields as Node's TLSSocket.getPeerCertificate() gives them. */
const CLIENT_DER = Buffer.from('MIIBdjCCAR2gAwIBAgIUAQ==', 'base64');

const socket = {
  remotePort: 51234,
  localAddress: '10.0.0.1',
  localPort: 443,
  alpnProtocol: 'h2',
  servername: 'site.test',
  getProtocol: () => 'TLSv1.3',
  getCipher: () => ({ name: 'TLS_AES_128_GCM_SHA256', standardName: 'TLS_AES_128_GCM_SHA256' }),
  isSessionReused: () => false,
  getPeerCertificate: () => ({
    raw: CLIENT_DER,
    fingerprint256: 'AB:CD:EF',
    serialNumber: '0A',
    subject: { C: 'FR', O: 'Org', CN: 'client' },
    issuer: { CN: 'Test CA' },
  }),
};

const req: PlaceholderRequest = {
  method: 'POST',
  url: '/a/b/index.html?k=v&k=w&x=1',
  httpVersion: '2.0',
  headers: {
    ':authority': 'Sub.Site.Test:8443',
    'x-in': 'xin',
    'x-multi': ['1', '2'],
    cookie: 'c=cv; Other="quoted"; e=',
  },
  socket,
};

const scope: PlaceholderScope = {
  scheme: 'https',
  remoteAddress: '192.0.2.7',
  clientIp: '203.0.113.1',
  host: 'sub.site.test',
  path: '/b/index.html',
  query: 'k=v&k=w&x=1',
  vars: new Map<string, unknown>([['who', 'me'], ['n', 3]]),
  values: new Map([
    ['http.regexp.ver.1', '42'],
    ['http.matchers.file.relative', '/index.html'],
    ['http.error.status_code', '404'],
    ['my_backend', '10.0.0.9:80'],
  ['http.auth.user.id', ''],
  ]),
  upstream: '[::1]:9000',
};

// Every placeholder of issue 9's list, in its short and long forms: [name, value].
const TABLE: readonly (readonly [string, string])[] = [
  ['host', 'Sub.Site.Test'],
  ['http.request.host', 'Sub.Site.Test'],
  ['hostport', 'Sub.Site.Test:8443'],
  ['http.request.hostport', 'Sub.Site.Test:8443'],
  ['port', '8443'],
  ['http.request.port', '8443'],
  ['uri', '/a/b/index.html?k=v&k=w&x=1'],
  ['http.request.uri', '/a/b/index.html?k=v&k=w&x=1'],
  ['path', '/b/index.html'],
  ['http.request.uri.path', '/b/index.html'],
  ['dir', '/b/'],
  ['http.request.uri.path.dir', '/b/'],
  ['file', 'index.html'],
  ['http.request.uri.path.file', 'index.html'],
  ['file.base', 'index'],
  ['file.ext', '.html'],
  ['path.0', 'b'],
  ['path.1', 'index.html'],
  ['path.5', ''],
  ['query', 'k=v&k=w&x=1'],
  ['http.request.uri.query', 'k=v&k=w&x=1'],
  ['?query', '?k=v&k=w&x=1'],
  ['query.k', 'v,w'],
  ['query.x', '1'],
  ['query.none', ''],
  ['http.request.uri.query.x', '1'],
  ['method', 'POST'],
  ['http.request.method', 'POST'],
  ['http.request.proto', 'HTTP/2.0'],
  ['scheme', 'https'],
  ['http.request.scheme', 'https'],
  ['remote', '192.0.2.7:51234'],
  ['http.request.remote', '192.0.2.7:51234'],
  ['remote_host', '192.0.2.7'],
  ['http.request.remote.host', '192.0.2.7'],
  ['remote_port', '51234'],
  ['http.request.remote.port', '51234'],
  ['http.request.local.host', '10.0.0.1'],
  ['http.request.local.port', '443'],
  ['http.request.local', '10.0.0.1:443'],
  ['client_ip', '203.0.113.1'],
  ['http.vars.client_ip', '203.0.113.1'],
  ['header.X-In', 'xin'],
  ['header.x-in', 'xin'],
  ['http.request.header.X-In', 'xin'],
  ['header.X-Multi', '1,2'],
  ['header.Absent', ''],
  ['cookie.c', 'cv'],
  ['cookie.other', 'quoted'],
  ['cookie.e', ''],
  ['cookie.none', ''],
  ['http.request.cookie.c', 'cv'],
  ['labels.0', 'Test'],
  ['labels.2', 'Sub'],
  ['labels.3', ''],
  ['http.request.host.labels.1', 'Site'],
  ['tls_version', 'tls1.3'],
  ['http.request.tls.version', 'tls1.3'],
  ['tls_cipher', 'TLS_AES_128_GCM_SHA256'],
  ['http.request.tls.cipher_suite', 'TLS_AES_128_GCM_SHA256'],
  ['http.request.tls.proto', 'h2'],
  ['http.request.tls.server_name', 'site.test'],
  ['http.request.tls.resumed', 'false'],
  ['tls_client_fingerprint', 'abcdef'],
  ['tls_client_serial', '10'],
  ['tls_client_subject', 'CN=client,O=Org,C=FR'],
  ['tls_client_issuer', 'CN=Test CA'],
  ['tls_client_certificate_der_base64', CLIENT_DER.toString('base64')],
  ['http.request.tls.client.certificate_der_base64', CLIENT_DER.toString('base64')],
  ['upstream_hostport', '[::1]:9000'],
  ['http.reverse_proxy.upstream.hostport', '[::1]:9000'],
  ['http.reverse_proxy.upstream.address', '[::1]:9000'],
  ['http.reverse_proxy.upstream.host', '::1'],
  ['http.reverse_proxy.upstream.port', '9000'],
  ['vars.who', 'me'],
  ['vars.n', '3'],
  ['vars.unset', ''],
  ['http.vars.who', 'me'],
  ['re.ver.1', '42'],
  ['http.regexp.ver.1', '42'],
  ['re.other.1', ''],
  ['file_match.relative', '/index.html'],
  ['http.matchers.file.relative', '/index.html'],
  ['err.status_code', '404'],
  ['http.error.status_code', '404'],
  ['err.message', ''],
  ['my_backend', '10.0.0.9:80'],
  ['http.auth.user.id', ''],
  ['env.PLACEHOLDER_TEST_VAR', 'from-env'],
  ['env.PLACEHOLDER_TEST_UNSET', ''],
  ['system.hostname', hostname()],
  ['system.os', process.platform],
];

test('every placeholder of the list resolves, short and long forms alike', () => {
  process.env['PLACEHOLDER_TEST_VAR'] = 'from-env';
  delete process.env['PLACEHOLDER_TEST_UNSET'];
  for (const [name, want] of TABLE) {
    assert.equal(resolvePlaceholder(name, req, scope), want, `{${name}}`);
    // {my_backend} is known because the config defines it (a `map` destination).
    assert.equal(isKnownPlaceholder(name, new Set(['my_backend'])), true, `{${name}} is known`);
  }
});

test('{env.VAR} is read at run time, not when the config is loaded', () => {
  process.env['PLACEHOLDER_TEST_VAR'] = 'one';
  assert.equal(expandPlaceholders('{env.PLACEHOLDER_TEST_VAR}', req, scope), 'one');
  process.env['PLACEHOLDER_TEST_VAR'] = 'two';
  assert.equal(expandPlaceholders('{env.PLACEHOLDER_TEST_VAR}', req, scope), 'two');
});

test('time placeholders: unix seconds and ms, year, HTTP date, common log, Go time', () => {
  const before = Date.now();
  const ms = Number(resolvePlaceholder('time.now.unix_ms', req, scope));
  const s = Number(resolvePlaceholder('time.now.unix', req, scope));
  const after = Date.now();
  assert.ok(ms >= before && ms <= after, `unix_ms ${ms}`);
  assert.ok(s >= Math.floor(before / 1000) && s <= Math.floor(after / 1000), `unix ${s}`);
  assert.equal(resolvePlaceholder('time.now.year', req, scope), String(new Date().getUTCFullYear()));
  assert.match(resolvePlaceholder('time.now.http', req, scope) ?? '', /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  assert.match(resolvePlaceholder('time.now.common_log', req, scope) ?? '', /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  assert.match(resolvePlaceholder('time.now', req, scope) ?? '', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \+0000 UTC$/);
});

test('{uuid} is one random id per request', () => {
  const a = resolvePlaceholder('uuid', req, scope);
  assert.match(a ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(resolvePlaceholder('http.request.uuid', req, scope), a, 'same request, same id');
  assert.notEqual(resolvePlaceholder('uuid', { ...req }, scope), a, 'another request, another id');
});

test('a client certificate PEM is the DER in base64 lines of 64', () => {
  const pem = resolvePlaceholder('tls_client_certificate_pem', req, scope) ?? '';
  assert.equal(pem, `-----BEGIN CERTIFICATE-----\n${CLIENT_DER.toString('base64')}\n-----END CERTIFICATE-----\n`);
});

test('without TLS (plain HTTP), the TLS placeholders are empty, not left as text', () => {
  const plain: PlaceholderRequest = { ...req, socket: { remotePort: 1 } };
  for (const name of ['tls_version', 'tls_cipher', 'tls_client_subject', 'tls_client_certificate_pem', 'http.request.tls.proto']) {
    assert.equal(resolvePlaceholder(name, plain, scope), '', name);
    assert.equal(expandPlaceholders(`a{${name}}b`, plain, scope), 'ab', name);
  }
});

test('several Cookie fields are searched as one list', () => {
  const r: PlaceholderRequest = { headers: { cookie: ['a=1', 'b=2; c=3'] as unknown as string } };
  assert.equal(expandPlaceholders('{cookie.a}|{cookie.c}', r, { scheme: 'http', remoteAddress: '' }), '1|3');
});

test('a missing port in Host gives an empty {port}, as Caddy (net.SplitHostPort)', () => {
  assert.equal(resolvePlaceholder('port', { headers: { host: 'site.test' } }, { scheme: 'http', remoteAddress: '' }), '');
  assert.equal(resolvePlaceholder('port', { headers: { host: '[::1]:80' } }, { scheme: 'http', remoteAddress: '' }), '80');
});

test('without a scope path/query/host, they come from the request', () => {
  const bare: PlaceholderScope = { scheme: 'http', remoteAddress: '::1' };
  const r: PlaceholderRequest = { url: '/x/y.txt?q=1', headers: { host: 'A.Example:81' } };
  assert.equal(expandPlaceholders('{host}|{path}|{query}|{dir}|{file}|{labels.1}|{remote}', r, bare), 'A.Example|/x/y.txt|q=1|/x/|y.txt|A|[::1]:');
});

test('expansion: unknown names stay as written, escaped braces are literal, non-placeholder braces untouched', () => {
  const cases: readonly (readonly [string, string])[] = [
    ['https://{host}{uri}', 'https://Sub.Site.Test/a/b/index.html?k=v&k=w&x=1'],
    ['a{nope}b', 'a{nope}b'],
    ['{tls_protocol} {proto} {HOST}', '{tls_protocol} {proto} {HOST}'],
    ['\\{host\\}', '{host}'],
    ['{"m.server": "{host}:443"}', '{"m.server": "Sub.Site.Test:443"}'],
    ['x{0,64}y', 'x{0,64}y'],
    ['{', '{'],
    ['{host', '{host'],
    ['no braces', 'no braces'],
  ];
  for (const [template, want] of cases) assert.equal(expandPlaceholders(template, req, scope), want, template);
  assert.equal(expandPlaceholders('a{nope}b', req, scope, 'empty'), 'ab');
});

test('isKnownPlaceholder: names my-server does not know, and the config-defined ones', () => {
  for (const name of ['tls_protocol', 'proto', 'HOST', 'labels.x', 'path.a', 'http.request.nope', 'nope']) {
    assert.equal(isKnownPlaceholder(name), false, name);
  }
  assert.equal(isKnownPlaceholder('my_var', new Set(['my_var'])), true);
  for (const name of ['args[0]', 'args.1', 'block', 'blocks.x', 'rp.upstream.latency', 'resp.status_code']) {
    assert.equal(isKnownPlaceholder(name), true, name);
  }
});

test('placeholdersIn finds names with their offsets and skips braces that are not placeholders', () => {
  assert.deepEqual(placeholdersIn('a{host}b{tls_protocol}'), [
    { name: 'host', offset: 1 },
    { name: 'tls_protocol', offset: 8 },
  ]);
  assert.deepEqual(placeholdersIn('^/x{0,64}$ {2} {"a": 1} { spaced } \\{host} {$ENV}'), []);
  assert.deepEqual(placeholdersIn('{header.X-Real-IP}{query.a[]}'), [
    { name: 'header.X-Real-IP', offset: 0 },
    { name: 'query.a[]', offset: 18 },
  ]);
});

test('placeholdersIn: `${…}` is skipped only as a regexp group of a replacement; `{$ENV}` always', () => {
  // A typo after a `$` is still a placeholder Caddy's replacer reads (and leaves as written).
  assert.deepEqual(placeholdersIn('a ${htp.request.host}'), [{ name: 'htp.request.host', offset: 3 }]);
  assert.deepEqual(placeholdersIn('${X}{htp.request.host}'), [
    { name: 'X', offset: 1 },
    { name: 'htp.request.host', offset: 4 },
  ]);
  // In a regexp replacement `${1}` and `${name}` are groups; a dotted name cannot be one.
  assert.deepEqual(placeholdersIn('/${1}/${name}/${htp.x}', true), [{ name: 'htp.x', offset: 15 }]);
  assert.deepEqual(placeholdersIn('{$HOME}{$PORT:80}{htp.y}', true), [{ name: 'htp.y', offset: 17 }]);
});
