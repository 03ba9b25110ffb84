import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  downstreamResponseHeaders,
  expandPlaceholders,
  upstreamRequestHeaders,
  type ForwardingContext,
} from '../../../src/proxy/forwarding.ts';

const ctx: ForwardingContext = {
  scheme: 'https',
  clientIp: '203.0.113.9',
  host: 'app.example:8443',
  method: 'GET',
  uri: '/a/b?c=d',
  upstreamHostport: '10.0.0.5:9000',
};

test('hop-by-hop headers and every header named in Connection are removed from the request', () => {
  const out = upstreamRequestHeaders(
    {
      host: 'app.example:8443',
      connection: 'keep-alive, X-Secret, x-other',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      te: 'gzip',
      trailer: 'x-checksum',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'x-secret': 'drop me',
      'x-other': 'drop me too',
      accept: 'text/html',
    },
    ctx,
    [],
  );
  for (const name of ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'x-secret', 'x-other']) {
    assert.equal(out[name], undefined, name);
  }
  assert.equal(out['accept'], 'text/html');
});

test('TE: trailers survives, other TE values do not', () => {
  assert.equal(upstreamRequestHeaders({ te: 'trailers, deflate;q=0.5' }, ctx, [])['te'], 'trailers');
  assert.equal(upstreamRequestHeaders({ te: 'deflate' }, ctx, [])['te'], undefined);
});

test('spoofed X-Forwarded-For/-Proto/-Host are replaced by what the proxy saw', () => {
  const out = upstreamRequestHeaders(
    {
      host: 'app.example:8443',
      'x-forwarded-for': '1.2.3.4, 5.6.7.8',
      'x-forwarded-proto': 'gopher',
      'x-forwarded-host': 'evil.example',
    },
    ctx,
    [],
  );
  assert.equal(out['x-forwarded-for'], '203.0.113.9');
  assert.equal(out['x-forwarded-proto'], 'https');
  assert.equal(out['x-forwarded-host'], 'app.example:8443');
  assert.equal(out['host'], 'app.example:8443', 'the original Host goes to the upstream');
});

test('Forwarded (RFC 7239) from a client that is no trusted proxy is dropped, like X-Forwarded-*', () => {
  const out = upstreamRequestHeaders({ host: 'app.example:8443', forwarded: 'for=1.2.3.4;host=evil.example;proto=http' }, ctx, []);
  assert.equal(out['forwarded'], undefined);
  const ws = upstreamRequestHeaders({ forwarded: 'for=1.2.3.4', upgrade: 'websocket', connection: 'upgrade' }, ctx, [], { upgrade: true });
  assert.equal(ws['forwarded'], undefined);
});

test("from a trusted proxy, Forwarded passes and X-Forwarded-* extend the proxy's own (Caddy's rules)", () => {
  const trusted = { ...ctx, trustedPeer: true };
  const out = upstreamRequestHeaders(
    {
      host: 'app.example:8443',
      forwarded: 'for=198.51.100.7;proto=https',
      'x-forwarded-for': '198.51.100.7, 10.1.1.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'public.example, edge.example',
    },
    trusted,
    [],
  );
  assert.equal(out['forwarded'], 'for=198.51.100.7;proto=https');
  assert.equal(out['x-forwarded-for'], '198.51.100.7, 10.1.1.1, 203.0.113.9');
  assert.equal(out['x-forwarded-proto'], 'https');
  assert.equal(out['x-forwarded-host'], 'edge.example');
  // Nothing sent before: the proxy's own values, as for any client.
  const bare = upstreamRequestHeaders({ host: 'app.example:8443' }, trusted, []);
  assert.equal(bare['x-forwarded-for'], '203.0.113.9');
  assert.equal(bare['x-forwarded-proto'], 'https');
  assert.equal(bare['x-forwarded-host'], 'app.example:8443');
});

test('HTTP/2 pseudo-headers are dropped and :authority becomes Host', () => {
  const out = upstreamRequestHeaders(
    { ':method': 'GET', ':path': '/x', ':scheme': 'https', ':authority': 'h2.example', accept: '*/*' },
    { ...ctx, host: 'h2.example' },
    [],
  );
  assert.deepEqual(Object.keys(out).filter((k) => k.startsWith(':')), []);
  assert.equal(out['host'], 'h2.example');
  assert.equal(out['x-forwarded-host'], 'h2.example');
});

test('an upgrade keeps Upgrade and sends Connection: upgrade', () => {
  const out = upstreamRequestHeaders(
    { connection: 'Upgrade, keep-alive', upgrade: 'websocket', 'sec-websocket-key': 'k' },
    ctx,
    [],
    { upgrade: true },
  );
  assert.equal(out['connection'], 'upgrade');
  assert.equal(out['upgrade'], 'websocket');
  assert.equal(out['sec-websocket-key'], 'k');
});

test('header_up set, add and delete (with a prefix wildcard) apply after the forwarding headers', () => {
  const out = upstreamRequestHeaders(
    { host: 'app.example:8443', 'x-debug-a': '1', 'x-debug-b': '2', accept: 'a' },
    ctx,
    [
      { op: 'set', name: 'Host', value: '{upstream_hostport}' },
      { op: 'add', name: 'Accept', value: 'b' },
      { op: 'set', name: 'X-Real-IP', value: '{remote_host}' },
      { op: 'delete', name: 'X-Debug-*' },
      { op: 'set', name: 'X-Forwarded-For', value: 'override' },
    ],
  );
  assert.equal(out['host'], '10.0.0.5:9000');
  assert.deepEqual(out['accept'], ['a', 'b']);
  assert.equal(out['x-real-ip'], '203.0.113.9');
  assert.equal(out['x-debug-a'], undefined);
  assert.equal(out['x-debug-b'], undefined);
  assert.equal(out['x-forwarded-for'], 'override');
});

test("placeholders expand; unknown ones stay as written, as Caddy's ReplaceKnown leaves them", () => {
  const table: [string, string][] = [
    ['{host}', 'app.example'],
    ['{hostport}', 'app.example:8443'],
    ['{scheme}://{host}{uri}', 'https://app.example/a/b?c=d'],
    ['{method} {remote_host}', 'GET 203.0.113.9'],
    ['{http.request.host}', 'app.example'],
    ['a{nope}b', 'a{nope}b'],
    ['no placeholders', 'no placeholders'],
  ];
  for (const [input, want] of table) assert.equal(expandPlaceholders(input, ctx), want, input);
  // {host} is the Host as sent, in every directive: no port, no brackets (Caddy's
  // http.request.host is net.SplitHostPort's host), case kept as Caddy 2.6.2 keeps it.
  assert.equal(expandPlaceholders('{host}', { ...ctx, host: '[::1]:8443' }), '::1');
  assert.equal(expandPlaceholders('{host}', { ...ctx, host: 'App.Example.:8443' }), 'App.Example');
});

test('response: hop-by-hop, Connection-named and Alt-Svc removed, then header_down', () => {
  const out = downstreamResponseHeaders(
    {
      connection: 'close, x-internal',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'x-internal': 'secret',
      'alt-svc': 'h3=":9443"',
      server: 'gunicorn',
      'set-cookie': ['a=1', 'b=2'],
      'content-type': 'text/plain',
    },
    ctx,
    [
      { op: 'delete', name: 'Server' },
      { op: 'set', name: 'X-Via', value: '{scheme}' },
    ],
  );
  assert.deepEqual(out, { 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain', 'x-via': 'https' });
});

test("header_up and header_down delete with Caddy's wildcards: *x* contains, *x suffix, x* prefix", () => {
  const incoming = { host: 'app.example:8443', 'x-debug-a': '1', 'a-debug': '2', 'x-trace-id': '3', 'x-request-timing': '4', accept: 'a' };
  const up = upstreamRequestHeaders(incoming, ctx, [{ op: 'delete', name: '*DEBUG*' }, { op: 'delete', name: '*-timing' }]);
  assert.equal(up['x-debug-a'], undefined);
  assert.equal(up['a-debug'], undefined);
  assert.equal(up['x-request-timing'], undefined);
  assert.equal(up['x-trace-id'], '3');
  assert.equal(up['accept'], 'a');
  const down = downstreamResponseHeaders({ 'x-debug-a': '1', 'server-timing': 't', server: 's' }, ctx, [{ op: 'delete', name: '*debug*' }]);
  assert.deepEqual(down, { 'server-timing': 't', server: 's' });
});
