import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downstreamResponseHeaders, upstreamRequestHeaders, type ForwardingContext } from '../../../src/proxy/forwarding.ts';

const base: ForwardingContext = {
  scheme: 'https',
  clientIp: '203.0.113.9',
  host: 'app.example:8443',
  method: 'GET',
  uri: '/a/b?k=v',
  upstreamHostport: '10.0.0.5:9000',
};

const ops = [
  { op: 'set', name: 'X-Header', value: '{header.X-A}' },
  { op: 'set', name: 'X-Cookie', value: '{cookie.c}' },
  { op: 'set', name: 'X-Query', value: '{query.k}' },
  { op: 'set', name: 'X-Var', value: '{vars.user}' },
  { op: 'set', name: 'X-Re', value: '{re.p.1}' },
  { op: 'set', name: 'X-Tls', value: '{tls_version}' },
  { op: 'set', name: 'X-Port', value: '{remote_port}' },
  { op: 'set', name: 'X-Up', value: '{http.reverse_proxy.upstream.port}' },
] as const;

test('header_up reads the client request (headers, cookies, query, socket) and the values handlers set', () => {
  const vars = new Map<string, unknown>();
  const values = new Map<string, string>();
  const ctx: ForwardingContext = {
    ...base,
    request: {
      method: 'GET',
      url: '/a/b?k=v',
      headers: { 'x-a': 'ha', cookie: 'c=cv' },
      socket: { remotePort: 40000, getProtocol: () => 'TLSv1.2' },
    },
    // A live view, as the router passes its RequestContext: set after the context was made.
    placeholders: { get vars() { return vars; }, get values() { return values; } },
  };
  vars.set('user', 'ann');
  values.set('http.regexp.p.1', 'cap');
  const out = upstreamRequestHeaders({ host: 'app.example:8443', 'x-a': 'ha', cookie: 'c=cv' }, ctx, ops);
  assert.deepEqual(
    ops.map((op) => out[op.name.toLowerCase()]),
    ['ha', 'cv', 'v', 'ann', 'cap', 'tls1.2', '40000', '9000'],
  );
  // header_down reads the client's request too, not the upstream's response.
  const down = downstreamResponseHeaders({ 'x-a': 'from-upstream' }, ctx, [{ op: 'set', name: 'X-Echo', value: '{header.X-A}' }]);
  assert.equal(down['x-echo'], 'ha');
});

test('without the request object, header_up reads the incoming headers it forwards', () => {
  const out = upstreamRequestHeaders({ host: 'app.example:8443', 'x-a': 'ha', cookie: 'c=cv' }, base, ops);
  assert.deepEqual(
    ops.map((op) => out[op.name.toLowerCase()]),
    ['ha', 'cv', 'v', '', '', '', '', '9000'],
  );
});
