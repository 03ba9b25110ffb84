/**
 * Every matcher type, table-driven, from Proxyfile text through the compiled predicate. The
 * tables port Caddy's own (modules/caddyhttp/matchers_test.go: TestPathMatcher, TestHeaderMatcher,
 * TestQueryMatcher, TestHeaderREMatcher, TestPathREMatcher) and add the Caddyfile forms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matcherOf, matches, requestOf, type RequestSpec } from './matchers-helpers.ts';

type Row = readonly [def: string, spec: RequestSpec, expect: boolean];

async function table(rows: readonly Row[]): Promise<void> {
  for (const [def, spec, expect] of rows) {
    assert.equal(await matches(def, spec), expect, `${def} on ${JSON.stringify(spec)}`);
  }
}

test('path: Caddy TestPathMatcher table (case, globs, prefix/suffix/substring)', async () => {
  await table([
    ['path /', { url: '/' }, true],
    ['path /foo/bar', { url: '/' }, false],
    ['path /foo/bar', { url: '/foo/bar' }, true],
    ['path /foo/bar/', { url: '/foo/bar' }, false],
    ['path /foo/bar/', { url: '/foo/bar/' }, true],
    ['path /foo/bar/ /other', { url: '/other/' }, false],
    ['path /foo/bar/ /other', { url: '/other' }, true],
    ['path *.ext', { url: '/foo/bar.ext' }, true],
    ['path *.php', { url: '/index.PHP' }, true],
    ['path /foo/*/baz', { url: '/foo/bar/baz' }, true],
    ['path /foo/*/baz/bam', { url: '/foo/bar/bam' }, false],
    ['path *substring*', { url: '/foo/substring/bar.txt' }, true],
    ['path /foo', { url: '/foo/bar' }, false],
    ['path /foo', { url: '/FOO' }, true],
    ['path /foo*', { url: '/FOOOO' }, true],
    ['path /foo/bar.txt', { url: '/foo/BAR.txt' }, true],
    ['path *', { url: '/' }, true],
    ['path *', { url: '/foo/bar' }, true],
    ['path **', { url: '/' }, true],
    ['path **', { url: '/foo/bar' }, true],
  ]);
});

test('path: a * in the middle stays within one segment; ? and [] are path.Match classes', async () => {
  await table([
    ['path /accounts/*/info', { url: '/accounts/42/info' }, true],
    ['path /accounts/*/info', { url: '/accounts/4/2/info' }, false],
    ['path /a?c', { url: '/abc' }, true],
    ['path /a?c', { url: '/a/c' }, false],
    ['path /v[0-9]/*/x', { url: '/v2/y/x' }, true],
    ['path /v[0-9]/*/x', { url: '/vv/y/x' }, false],
    ['path /[', { url: '/[' }, false],
  ]);
});

test('path: escaped forms in a pattern compare with the escaped request path', async () => {
  await table([
    ['path /foo%2Fbar', { url: '/foo%2Fbar' }, true],
    ['path /foo%2fbar', { url: '/foo%2Fbar' }, true],
    ['path /foo%2Fbar', { url: '/foo/bar' }, false],
    // Without % the pattern meets the decoded path.
    ['path /foo/bar', { url: '/foo%2Fbar' }, true],
    ['path /%25@.txt', { url: '/%25@.txt' }, true],
    ['path /bands/%*/', { url: '/bands/AC%2fDC/' }, true],
    ['path /bands/*/', { url: '/bands/AC%2fDC/' }, false],
    ['path /a/%*', { url: '/a/b%2Fc' }, true],
  ]);
});

test('path: decoding, dot segments and merged slashes; // in a pattern keeps empty segments', async () => {
  await table([
    ['path /secret*', { url: '/%73ecret' }, true],
    ['path /secret*', { url: '//secret' }, true],
    ['path /secret*', { url: '/a/../secret' }, true],
    ['path /foo//bar', { url: '/foo//bar' }, true],
    ['path /foo//bar', { url: '/foo/bar' }, false],
  ]);
});

test('path: matches the path after a rewrite (handle_path), placeholders expand per request', async () => {
  await table([
    ['path /inner', { url: '/outer/inner', path: '/inner' }, true],
    ['path /outer/inner', { url: '/outer/inner', path: '/inner' }, false],
    ['path /{vars.dir}/*', { url: '/docs/x', vars: { dir: 'docs' } }, true],
    ['path /{vars.dir}/*', { url: '/img/x', vars: { dir: 'docs' } }, false],
  ]);
});

test('path_regexp: Caddy TestPathREMatcher table, captures as {re.NAME.N} and {re.NAME.capname}', async () => {
  await table([
    ['path_regexp /', { url: '/' }, true],
    ['path_regexp /foo', { url: '/foo' }, true],
    ['path_regexp /foo', { url: '/foo/' }, true],
    ['path_regexp /bar', { url: '/foo/' }, false],
    ['path_regexp ^/bar', { url: '/foo/bar' }, false],
    ['path_regexp (?i)^/FOO$', { url: '/foo' }, true],
    ['path_regexp ^/FOO$', { url: '/foo' }, false],
  ]);
  const named = await matcherOf('path_regexp name ^/foo/(.*)/baz$');
  const a = requestOf({ url: '/foo/bar/baz' });
  assert.equal(named(a.req, a.ctx), true);
  assert.equal(a.ctx.values?.get('http.regexp.name.1'), 'bar');
  assert.equal(a.ctx.values?.get('http.regexp.1'), 'bar');
  const group = await matcherOf('path_regexp name ^/foo/(?P<myparam>.*)/baz$');
  const b = requestOf({ url: '/foo/bar/baz' });
  assert.equal(group(b.req, b.ctx), true);
  assert.equal(b.ctx.values?.get('http.regexp.name.myparam'), 'bar');
  // Without a name, the matcher set's name (@m) names the captures.
  const unnamed = await matcherOf('path_regexp ^/(\\w+)\\.html$');
  const c = requestOf({ url: '/page.html' });
  assert.equal(unnamed(c.req, c.ctx), true);
  assert.equal(c.ctx.values?.get('http.regexp.m.1'), 'page');
});

test('header: Caddy TestHeaderMatcher table (any value of any line, globs, Host, absence)', async () => {
  await table([
    ['header Field foo', { headers: [['Field', 'foo']] }, true],
    ['header Field foo\nheader Field bar', { headers: [['Field', 'bar']] }, true],
    ['header Field foo\nheader Field bar', { headers: [['Alakazam', 'kapow']] }, false],
    ['header Field foo\nheader Field bar', { headers: [['Field', 'kapow']] }, false],
    ['header Field foo\nheader Field bar', { headers: [['Field', 'kapow'], ['Field', 'foo']] }, true],
    ['header Field1 foo\nheader Field2 bar', { headers: [['Field1', 'foo'], ['Field2', 'bar']] }, true],
    ['header field1 foo\nheader field2 bar', { headers: [['Field1', 'foo'], ['Field2', 'bar']] }, true],
    ['header field1 foo\nheader field2 bar', { headers: [['Field1', 'foo'], ['Field2', 'kapow']] }, false],
    ['header field1 *', { headers: [['Field1', 'foo']] }, true],
    ['header field1 *', { headers: [['Field2', 'foo']] }, false],
    ['header Field1 foo*', { headers: [['Field1', 'foo']] }, true],
    ['header Field1 foo*', { headers: [['Field1', 'asdf'], ['Field1', 'foobar']] }, true],
    ['header Field1 *bar', { headers: [['Field1', 'asdf'], ['Field1', 'foobar']] }, true],
    ['header Field1 *oob*', { headers: [['Field1', 'foobar']] }, true],
    ['header host localhost', { host: 'localhost' }, true],
    ['header host localhost', { host: 'caddyserver.com' }, false],
    ['header !Must-Not-Exist', {}, true],
    ['header !Must-Not-Exist', { headers: [['Must-Not-Exist', 'do not match']] }, false],
    ['header Foo {vars.a}', { headers: [['Foo', 'foobar']], vars: { a: 'foobar' } }, true],
    ['header Foo {vars.a}', { headers: [['Foo', 'asdf']], vars: { a: 'foobar' } }, false],
    ['header Foo {vars.a}*', { headers: [['Foo', 'foobar-baz']], vars: { a: 'foobar' } }, true],
    // Values are compared case-sensitively, as Caddy does.
    ['header Foo bar', { headers: [['Foo', 'BAR']] }, false],
  ]);
});

test('header_regexp: Caddy TestHeaderREMatcher table; one regexp per field, every field must match', async () => {
  await table([
    ['header_regexp Field foo', { headers: [['Field', 'foo']] }, true],
    ['header_regexp Field $foo^', { headers: [['Field', 'foobar']] }, false],
    ['header_regexp name Field ^foo.*$', { headers: [['Field', 'barfoo'], ['Field', 'foobar']] }, true],
    ['header_regexp name host ^localhost$', { host: 'localhost' }, true],
    ['header_regexp name host ^local$', { host: 'localhost' }, false],
    ['header_regexp A ^a$\nheader_regexp B ^b$', { headers: [['A', 'a'], ['B', 'x']] }, false],
  ]);
  const m = await matcherOf('header_regexp name Field ^foo(.*)$');
  const r = requestOf({ headers: [['Field', 'foobar']] });
  assert.equal(m(r.req, r.ctx), true);
  assert.equal(r.ctx.values?.get('http.regexp.name.1'), 'bar');
});

test('query: Caddy TestQueryMatcher table (exact, *, empty value, no keys, placeholders, bad query)', async () => {
  await table([
    ['query debug=1', { url: '/' }, false],
    ['query debug=1', { url: '/?debug=1' }, true],
    ['query debug=*', { url: '/?debug=something' }, true],
    ['query debug=*', { url: '/?other=something' }, false],
    ['query debug=', { url: '/?debug' }, true],
    ['query debug=', { url: '/?someparam' }, false],
    ['query', { url: '/?' }, true],
    ['query', { url: '/?foo=bar' }, false],
    ['query =', { url: '/?' }, false],
    ['query debug={vars.debug}', { url: '/?debug=1', vars: { debug: '1' } }, true],
    ['query {vars.key}=1', { url: '/?somekey=1', vars: { key: 'somekey' } }, true],
    ['query a=1 a=2', { url: '/?a=2' }, true],
    ['query a=1 b=2', { url: '/?a=1' }, false],
    ['query a=1 b=2', { url: '/?b=2&a=1' }, true],
    ['query q=a+b', { url: '/?q=a+b' }, false],
    ['query "q=a b"', { url: '/?q=a+b' }, true],
    ['query debug=1', { url: '/?debug=1;x=2' }, false],
    ['query debug=1', { url: '/?debug=1&x=%zz' }, false],
  ]);
});

test('protocol: scheme, gRPC content type and HTTP versions', async () => {
  await table([
    ['protocol https', { scheme: 'https' }, true],
    ['protocol https', { scheme: 'http' }, false],
    ['protocol http', { scheme: 'http' }, true],
    ['protocol grpc', { headers: [['Content-Type', 'application/grpc+proto']] }, true],
    ['protocol grpc', { headers: [['Content-Type', 'application/json']] }, false],
    ['protocol http/1.1', { version: '1.1' }, true],
    ['protocol http/1.0', { version: '1.1' }, false],
    ['protocol http/1.0', { version: '1.0' }, true],
    ['protocol http/2', { version: '2.0' }, true],
    ['protocol http/2', { version: '1.1' }, false],
    ['protocol http/2+', { version: '2.0' }, true],
    ['protocol http/1.1+', { version: '2.0' }, true],
    ['protocol http/3', { version: '2.0' }, false],
  ]);
});

test('remote_ip looks at the peer, client_ip at the client after trusted_proxies', async () => {
  await table([
    ['remote_ip 10.0.0.0/8', { remote: '10.1.2.3' }, true],
    ['remote_ip 10.0.0.0/8', { remote: '11.0.0.1' }, false],
    ['remote_ip 10.0.0.0/8 192.168.1.5', { remote: '192.168.1.5' }, true],
    ['remote_ip private_ranges', { remote: '192.168.1.1' }, true],
    ['remote_ip private_ranges', { remote: '::1' }, true],
    ['remote_ip private_ranges', { remote: '8.8.8.8' }, false],
    ['remote_ip 10.0.0.0/8', { remote: '::ffff:10.0.0.1' }, true],
    ['remote_ip 2001:db8::/32', { remote: '2001:db8::1' }, true],
    // Caddy 2.6's `forwarded`: the first X-Forwarded-For address, whoever sent it.
    ['remote_ip forwarded 10.0.0.0/8', { remote: '8.8.8.8', headers: [['X-Forwarded-For', '10.0.0.1, 8.8.8.8']] }, true],
    ['remote_ip forwarded 10.0.0.0/8', { remote: '10.0.0.1' }, true],
    ['remote_ip 10.0.0.0/8', { remote: '127.0.0.1', clientIp: '10.0.0.5' }, false],
    ['client_ip 10.0.0.0/8', { remote: '127.0.0.1', clientIp: '10.0.0.5' }, true],
    ['client_ip 10.0.0.0/8', { remote: '10.0.0.1', clientIp: '8.8.8.8' }, false],
    ['client_ip 10.0.0.0/8', { remote: '10.0.0.1' }, true],
    ['client_ip private_ranges', { remote: '127.0.0.1', clientIp: '172.16.3.4' }, true],
  ]);
});

test('vars and vars_regexp: variables or placeholders; any key matching is enough', async () => {
  await table([
    ['vars foo bar', { vars: { foo: 'bar' } }, true],
    ['vars foo bar', { vars: { foo: 'baz' } }, false],
    ['vars foo bar baz', { vars: { foo: 'baz' } }, true],
    ['vars foo ""', {}, true],
    ['vars count 5', { vars: { count: 5 } }, true],
    ['vars log_skip true', { vars: { log_skip: true } }, true],
    ['vars {http.request.uri.path} /x', { url: '/x' }, true],
    ['vars {path} /x', { url: '/y' }, false],
    ['vars a 1\nvars b 2', { vars: { a: '0', b: '2' } }, true],
    ['vars a 1\nvars b 2', { vars: { a: '0', b: '0' } }, false],
    ['vars foo {vars.bar}', { vars: { foo: 'x', bar: 'x' } }, true],
    ['vars_regexp foo ^b.r$', { vars: { foo: 'bar' } }, true],
    ['vars_regexp foo ^b.r$', { vars: { foo: 'car' } }, false],
    ['vars_regexp {header.X-Id} ^[0-9]+$', { headers: [['X-Id', '123']] }, true],
  ]);
  const m = await matcherOf('vars_regexp foo ^b(.)r$');
  const r = requestOf({ vars: { foo: 'bar' } });
  assert.equal(m(r.req, r.ctx), true);
  assert.equal(r.ctx.values?.get('http.regexp.m.1'), 'a');
});

test('not wraps any matcher type', async () => {
  await table([
    ['not header X-A *', { headers: [['X-A', '1']] }, false],
    ['not header X-A *', {}, true],
    ['not {\nquery a=1\nprotocol https\n}', { url: '/?a=1', scheme: 'http' }, true],
    ['not {\nquery a=1\nprotocol https\n}', { url: '/?a=1', scheme: 'https' }, false],
  ]);
});

test('path: a * at an escape in the request path follows Caddy byte for byte', async () => {
  await table([
    // Caddy's span after `%2f` starts inside the next escape, so this matches there too.
    ['path /foo%2f*', { url: '/foo%2f%2fbar' }, true],
    ['path /foo/%*', { url: '/foo/%2Fbar' }, true],
    // Without % the decoded, cleaned path (/foo/bar) is what a prefix meets.
    ['path /foo/*', { url: '/foo/%2Fbar' }, true],
  ]);
});
