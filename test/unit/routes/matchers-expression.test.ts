/**
 * The expression matcher: CEL with Caddy's `{placeholder}` shorthand and matcher functions,
 * evaluated per request from a program compiled once per config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matcherOf, requestOf, type RequestSpec } from './matchers-helpers.ts';

type Row = readonly [expr: string, spec: RequestSpec, expect: boolean];

async function table(rows: readonly Row[]): Promise<void> {
  for (const [expr, spec, expect] of rows) {
    const m = await matcherOf(`expression \`${expr}\``);
    const { req, ctx } = requestOf(spec);
    assert.equal(m(req, ctx), expect, `${expr} on ${JSON.stringify(spec)}`);
  }
}

test('expression: placeholders become ph(req, name) values', async () => {
  await table([
    ["{path} == '/x'", { url: '/x' }, true],
    ["{path} == '/x'", { url: '/y' }, false],
    ["{method} == 'POST' && {path}.startsWith('/api')", { url: '/api/v1', method: 'POST' }, true],
    ["{method} == 'POST' && {path}.startsWith('/api')", { url: '/api/v1' }, false],
    ["{http.request.header.X-Token} == 'abc'", { headers: [['X-Token', 'abc']] }, true],
    ["{header.X-Token} == 'abc'", { headers: [['X-Token', 'abd']] }, false],
    ["{query.page} == '2'", { url: '/?page=2' }, true],
    ["{host}.endsWith('.test')", {}, true],
    ["{vars.flag} == 'on'", { vars: { flag: 'on' } }, true],
    // An absent header is '' (Caddy 2.6.2: `{header.Missing} == ""` matches, `== null` does not).
    ["{header.Missing}.startsWith('a')", {}, false],
    ["{header.Missing} == ''", {}, true],
    ["{header.Missing} == null", {}, false],
    // An unset variable is null; calling a string method on it fails, and a failed evaluation
    // does not match (Caddy logs it and moves on).
    ["{vars.none} == null", {}, true],
    ["{vars.none}.startsWith('a')", {}, false],
    // `\{x}` is a literal brace pair, not a placeholder.
    ["'\\{path}' == '{' + 'path}'", {}, true],
  ]);
});

test('expression: Caddy matcher functions', async () => {
  await table([
    ["path('/a*')", { url: '/abc' }, true],
    ["path('/a*')", { url: '/b' }, false],
    ["path('/x', '/y/*')", { url: '/y/z' }, true],
    ["host('site.test', 'other.test')", {}, true],
    ["host('*.test')", {}, true],
    ["method('PUT', 'POST')", { method: 'PUT' }, true],
    ["method('PUT', 'POST')", {}, false],
    ["header({'X-A': 'v'})", { headers: [['X-A', 'v']] }, true],
    ["header({'X-A': ['v', 'w*']})", { headers: [['X-A', 'wow']] }, true],
    ["header({'X-A': 'v'})", {}, false],
    // An empty list asks for presence only (Caddy: a non-nil, empty list of values).
    ["header({'X-A': []})", { headers: [['X-A', 'anything']] }, true],
    ["header({'X-A': []})", {}, false],
    ["query({'sort': 'asc'}) || query({'foo': ['*bar*', 'baz']})", { url: '/?foo=baz' }, true],
    ["query({'q': '*'})", { url: '/?q=1' }, true],
    ["remote_ip('10.0.0.0/8')", { remote: '10.2.3.4' }, true],
    ["remote_ip('10.0.0.0/8')", { remote: '127.0.0.1', clientIp: '10.2.3.4' }, false],
    ["client_ip('10.0.0.0/8')", { remote: '127.0.0.1', clientIp: '10.2.3.4' }, true],
    ["protocol('https')", { scheme: 'https' }, true],
    ["protocol('HTTP/2')", { version: '2.0' }, true],
    ["vars({'foo': 'bar'})", { vars: { foo: 'bar' } }, true],
    ["vars_regexp('foo', '^b.r$')", { vars: { foo: 'bar' } }, true],
    ["!path('/admin*') && method('GET')", { url: '/home' }, true],
    ["file({'root': '.', 'try_files': ['/package.json']})", {}, true],
    ["file('/no-such-file.txt')", {}, false],
  ]);
});

test('expression: regexp functions record captures under the set name or the one given', async () => {
  const m = await matcherOf("expression `path_regexp('^/u/([a-z]+)$') && header_regexp('tok', 'X-T', '^t(\\\\d+)$')`");
  const { req, ctx } = requestOf({ url: '/u/bob', headers: [['X-T', 't42']] });
  assert.equal(m(req, ctx), true);
  assert.equal(ctx.values?.get('http.regexp.m.1'), 'bob');
  assert.equal(ctx.values?.get('http.regexp.tok.1'), '42');
});

test('expression: the @name "CEL" shorthand and several expression lines (all must hold)', async () => {
  const short = await matcherOf(`"{path} == '/s'"`);
  const a = requestOf({ url: '/s' });
  assert.equal(short(a.req, a.ctx), true);
  const both = await matcherOf("expression `{path} == '/b'`\nexpression `{method} == 'GET'`");
  const b = requestOf({ url: '/b', method: 'POST' });
  assert.equal(both(b.req, b.ctx), false);
  const c = requestOf({ url: '/b' });
  assert.equal(both(c.req, c.ctx), true);
  // Unquoted tokens are joined with spaces, quotes kept (Caddy's RemainingArgsRaw).
  const joined = await matcherOf(`expression {path} == "/j"`);
  const d = requestOf({ url: '/j' });
  assert.equal(joined(d.req, d.ctx), true);
  // As written in the corpus (a WordPress cache rule): `not expression {query} != ''`.
  const noQuery = await matcherOf("not expression {query} != ''");
  const e = requestOf({ url: '/p' });
  assert.equal(noQuery(e.req, e.ctx), true);
  const f = requestOf({ url: '/p?x=1' });
  assert.equal(noQuery(f.req, f.ctx), false);
});

test('expression: bad CEL is a config error at the expression', async () => {
  // The column is the error's inside the expression (placeholders mapped back to where written).
  await assert.rejects(matcherOf('expression `{path} ==`'), /test:2:25: expression: invalid CEL/);
  await assert.rejects(matcherOf("expression `{path} == '/a' && nosuch(1)`"), /test:2:34: expression: invalid CEL .*nosuch/);
  await assert.rejects(matcherOf("expression {path} == '/a' && nosuch(1)"), /test:2:15: expression: invalid CEL/);
  await assert.rejects(matcherOf("expression `{path}`"), /return type of bool, not dyn/);
  await assert.rejects(matcherOf("expression `path(1)`"), /invalid CEL/);
  await assert.rejects(matcherOf('expression'), /missing argument/);
});

test('expression: Caddy celmatcher_test.go table (matches and provisioning errors)', async () => {
  await table([
    ["header({'Field': 'foo'})", { headers: [['Field', 'foo'], ['Field', 'bar']] }, true],
    ["header_regexp('Field', 'fo{2}')", { headers: [['Field', 'foo'], ['Field', 'bar']] }, true],
    ["header_regexp('foo', 'Field', 'fo{2}')", { headers: [['Field', 'foo'], ['Field', 'bar']] }, true],
    ["header_regexp('foo', 'Nope', 'fo{2}')", { headers: [['Field', 'foo']] }, false],
    ["host('localhost')", { host: 'localhost' }, true],
    ["host('*.example.com')", { host: 'foo.example.com' }, true],
    ["host('example.net', '*.example.com')", { host: 'foo.example.org' }, false],
    ["method('PUT')", { method: 'GET' }, false],
    ["method('DELETE', 'PUT', 'POST')", { method: 'PUT' }, true],
    ["path('*substring*')", { url: '/foo/substring/bar.txt' }, true],
    ["path('/foo')", { url: '/foo/bar' }, false],
    ["path('/foo')", { url: '/FOO' }, true],
    ["path('/foo*')", { url: '/FOOOOO' }, true],
    ["path('/foo', '/foo/*', '/bar', '/bar/*', '/baz', '/baz*')", { url: '/foo' }, true],
    ["path_regexp('')", { url: '/' }, true],
    ["path_regexp('/')", { url: '/' }, true],
    ["path_regexp('^/foo')", { url: '/foo/' }, true],
    ["path_regexp('bar_at_start', '^/bar')", { url: '/foo/bar' }, false],
    ["protocol('HTTPs')", { scheme: 'https' }, true],
    ["protocol('grpc')", { scheme: 'https' }, false],
    ['query({"debug": "1"})', { url: '/foo' }, false],
    ['query({"debug": "1"})', { url: '/foo/?debug=1' }, true],
    ['query({"debug": ["*"]})', { url: '/foo/?debug=something' }, true],
    ['query({"debug": {http.request.uri.query.debug}})', { url: '/foo/?debug=1' }, true],
    ["remote_ip('192.0.2.1')", { remote: '192.0.2.1' }, true],
    ["remote_ip('forwarded', '192.0.2.1')", { remote: '192.0.2.1' }, true],
    ["remote_ip('forwarded', '192.0.2.1')", { remote: '10.0.0.1', headers: [['X-Forwarded-For', '192.0.2.1']] }, true],
    ["{http.request.uri.query} != ''", { url: '/?a' }, true],
  ]);
  for (const bad of [
    "header('foo')",
    "header_regexp('foo')",
    'host(80)',
    'method()',
    'protocol()',
    "protocol('grpc', 'https')",
    'protocol(true)',
    'query({1: "1"})',
    'query(Message{field: "1"})',
    'query({"debug": 1})',
    'query()',
    'remote_ip()',
    "remote_ip('192.0.2.1', 'forwarded')",
    "remote_ip('not-an-ip')",
    "path_regexp('(')",
    '{http.request.uri.query}',
  ]) {
    await assert.rejects(matcherOf(`expression \`${bad}\``), /expression: /, bad);
  }
});
