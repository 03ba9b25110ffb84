/**
 * trusted_proxies: the range check, Caddy's client-IP rule, what the upstream is sent, and the
 * whole path from a `servers` block to the headers a real upstream receives.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Generation } from '../../../src/app/generation.ts';
import { upstreamRequestHeaders, expandPlaceholders, type ForwardingContext } from '../../../src/proxy/forwarding.ts';
import { PRIVATE_RANGES } from '../../../src/config/cidr.ts';
import { clientIp, IpRanges, type ClientIpPolicy } from '../../../src/util/ip-ranges.ts';
import { serverOptionsFor } from '../../../src/http/client-ip.ts';
import type { ServerOptions } from '../../../src/config/types.ts';
import { buildGeneration, handlerFor, rawRequest, serveHttp } from '../http/harness.ts';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

test('ranges contain what Go netip prefixes contain, IPv4-mapped peers judged as IPv4', () => {
  const ranges = new IpRanges(['10.0.0.0/8', '127.0.0.1/8', '2001:db8::/32', '192.0.2.7', '::1']);
  const cases: [ip: string, inside: boolean][] = [
    ['10.1.2.3', true],
    ['11.0.0.1', false],
    ['127.255.0.1', true],
    ['::ffff:10.9.9.9', true],
    ['::ffff:11.9.9.9', false],
    ['2001:db8::1', true],
    ['2001:db9::1', false],
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['::1', true],
    ['::2', false],
    ['not-an-ip', false],
    ['', false],
  ];
  for (const [ip, inside] of cases) assert.equal(ranges.contains(ip), inside, ip);
  assert.equal(new IpRanges([]).contains('127.0.0.1'), false);
  const priv = new IpRanges(PRIVATE_RANGES);
  for (const ip of ['192.168.1.1', '172.31.0.1', '10.0.0.1', '127.0.0.1', 'fd12::1', '::1']) assert.ok(priv.contains(ip), ip);
  for (const ip of ['172.32.0.1', '8.8.8.8', 'fe80::1', '2001:db8::1']) assert.ok(!priv.contains(ip), ip);
});

test('the client IP follows Caddy: untrusted peer is the client; trusted: first valid, or strict: first untrusted from the right', () => {
  const trusted = new IpRanges(['10.0.0.0/8']);
  const lax: ClientIpPolicy = { trusted, headers: ['X-Forwarded-For'], strict: false };
  const strict: ClientIpPolicy = { ...lax, strict: true };
  const cf: ClientIpPolicy = { trusted, headers: ['CF-Connecting-IP', 'X-Forwarded-For'], strict: false };
  const cases: [name: string, peer: string, headers: http.IncomingHttpHeaders, policy: ClientIpPolicy | undefined, want: { trustedPeer: boolean; clientIp: string }][] = [
    ['no servers block', '10.0.0.1', { 'x-forwarded-for': '1.1.1.1' }, undefined, { trustedPeer: false, clientIp: '10.0.0.1' }],
    ['untrusted peer ignores the header', '8.8.8.8', { 'x-forwarded-for': '1.1.1.1' }, lax, { trustedPeer: false, clientIp: '8.8.8.8' }],
    ['mapped untrusted peer is shown unmapped', '::ffff:8.8.8.8', {}, lax, { trustedPeer: false, clientIp: '8.8.8.8' }],
    ['trusted peer, no header: the peer', '10.0.0.1', {}, lax, { trustedPeer: true, clientIp: '10.0.0.1' }],
    ['trusted: left-most valid', '10.0.0.1', { 'x-forwarded-for': 'junk, 1.1.1.1, 2.2.2.2' }, lax, { trustedPeer: true, clientIp: '1.1.1.1' }],
    ['trusted: a port is dropped', '10.0.0.1', { 'x-forwarded-for': '1.1.1.1:4321' }, lax, { trustedPeer: true, clientIp: '1.1.1.1' }],
    ['trusted: bracketed IPv6 with port', '10.0.0.1', { 'x-forwarded-for': '[2001:db8::5]:80' }, lax, { trustedPeer: true, clientIp: '2001:db8::5' }],
    ['trusted: zone dropped', '10.0.0.1', { 'x-forwarded-for': 'fe80::1%eth0' }, lax, { trustedPeer: true, clientIp: 'fe80::1' }],
    ['trusted: nothing valid, the peer', '10.0.0.1', { 'x-forwarded-for': 'unknown' }, lax, { trustedPeer: true, clientIp: '10.0.0.1' }],
    ['strict: first untrusted from the right', '10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 1.1.1.1, 10.0.0.9' }, strict, { trustedPeer: true, clientIp: '1.1.1.1' }],
    ['strict: all trusted, the peer', '10.0.0.1', { 'x-forwarded-for': '10.0.0.8, 10.0.0.9' }, strict, { trustedPeer: true, clientIp: '10.0.0.1' }],
    ['headers in order: the first header wins', '10.0.0.1', { 'cf-connecting-ip': '3.3.3.3', 'x-forwarded-for': '1.1.1.1' }, cf, { trustedPeer: true, clientIp: '3.3.3.3' }],
    ['headers in order: a missing one is skipped', '10.0.0.1', { 'x-forwarded-for': '1.1.1.1' }, cf, { trustedPeer: true, clientIp: '1.1.1.1' }],
  ];
  for (const [name, peer, headers, policy, want] of cases) assert.deepEqual(clientIp(peer, headers, policy), want, name);
});

test('the servers block for a listener is the one with its port, else the one without an address', () => {
  const block = (address: string | undefined, port: number | undefined): ServerOptions =>
    ({ ...(address !== undefined ? { address, port } : {}), trustedProxies: [], pos: { file: 'P', line: 1, col: 1 } }) as unknown as ServerOptions;
  const all = block(undefined, undefined);
  const tls = block(':443', 443);
  assert.equal(serverOptionsFor([all, tls], 443), tls);
  assert.equal(serverOptionsFor([all, tls], 80), all);
  assert.equal(serverOptionsFor([tls], 80), undefined);
  assert.equal(serverOptionsFor(undefined, 80), undefined);
});

test('forwarded headers: a trusted peer gets X-Forwarded-For appended and its Forwarded and X-Forwarded-* kept; an untrusted one has them replaced', () => {
  const base: ForwardingContext = { scheme: 'https', clientIp: '10.0.0.1', host: 'app.test', method: 'GET', uri: '/', upstreamHostport: 'u:1' };
  const incoming = {
    host: 'app.test',
    forwarded: 'for=1.1.1.1;proto=http',
    'x-forwarded-for': '1.1.1.1',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'edge.test',
  };
  const trusted = upstreamRequestHeaders(incoming, { ...base, trustedPeer: true }, []);
  assert.equal(trusted['x-forwarded-for'], '1.1.1.1, 10.0.0.1');
  assert.equal(trusted['x-forwarded-proto'], 'http');
  assert.equal(trusted['x-forwarded-host'], 'edge.test');
  assert.equal(trusted['forwarded'], 'for=1.1.1.1;proto=http');
  const untrusted = upstreamRequestHeaders(incoming, { ...base, trustedPeer: false }, []);
  assert.equal(untrusted['x-forwarded-for'], '10.0.0.1');
  assert.equal(untrusted['x-forwarded-proto'], 'https');
  assert.equal(untrusted['x-forwarded-host'], 'app.test');
  assert.equal(untrusted['forwarded'], undefined);
});

test('{client_ip} in header values is the resolved client, else the peer (never empty)', () => {
  const base: ForwardingContext = { scheme: 'http', clientIp: '10.0.0.1', host: 'a', method: 'GET', uri: '/', upstreamHostport: 'u:1' };
  assert.equal(expandPlaceholders('{client_ip}', base), '10.0.0.1');
  assert.equal(expandPlaceholders('{client_ip}', { ...base, resolvedClientIp: '1.1.1.1' }), '1.1.1.1');
});

/** An upstream that answers each request with the headers it received, as JSON. */
async function echoUpstream(): Promise<string> {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.headers));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function generation(text: string): Promise<Generation> {
  const gen = await buildGeneration(text);
  closers.push(() => gen.close());
  return gen;
}

async function upstreamSaw(globals: string, upstream: string, configPort: number, extra: string): Promise<Record<string, string>> {
  const gen = await generation(`{\n${globals}\n}\nhttp://a.test:${configPort} {\n\treverse_proxy ${upstream}\n}\n`);
  const served = await serveHttp(handlerFor(() => gen), configPort);
  closers.push(() => served.close());
  const r = await rawRequest(served.port, `GET / HTTP/1.1\r\nHost: a.test:${configPort}\r\n${extra}Connection: close\r\n\r\n`);
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
}

test('through a real upstream: X-Forwarded-For is appended for a peer in trusted_proxies (127.0.0.1/8), replaced otherwise', async () => {
  const upstream = await echoUpstream();
  const xff = 'X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n';
  const trusted = await upstreamSaw('\tservers {\n\t\ttrusted_proxies static 127.0.0.1/8\n\t}', upstream, 8080, xff);
  assert.equal(trusted['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  assert.equal(trusted['x-forwarded-proto'], 'https');
  const none = await upstreamSaw('\temail a@b.test', upstream, 8080, xff);
  assert.equal(none['x-forwarded-for'], '127.0.0.1');
  assert.equal(none['x-forwarded-proto'], 'http');
  // A block for another listener's port does not apply to this one.
  const other = await upstreamSaw('\tservers :9443 {\n\t\ttrusted_proxies static 127.0.0.1/8\n\t}', upstream, 8080, xff);
  assert.equal(other['x-forwarded-for'], '127.0.0.1');
  const outside = await upstreamSaw('\tservers {\n\t\ttrusted_proxies static 10.0.0.0/8 ::2\n\t}', upstream, 8080, xff);
  assert.equal(outside['x-forwarded-for'], '127.0.0.1');
});

test('{client_ip} in a site directive is the X-Forwarded-For client behind a trusted proxy, else the peer', async () => {
  const respond = async (globals: string): Promise<string> => {
    const gen = await generation(`{\n${globals}\n}\nhttp://a.test:8080 {\n\trespond "{client_ip}"\n}\n`);
    const served = await serveHttp(handlerFor(() => gen), 8080);
    closers.push(() => served.close());
    const r = await rawRequest(served.port, 'GET / HTTP/1.1\r\nHost: a.test:8080\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.7, 127.0.0.5\r\nConnection: close\r\n\r\n');
    return r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
  };
  // Non-strict takes the left-most address; strict the right-most one that is not a trusted proxy.
  assert.equal(await respond('\tservers {\n\t\ttrusted_proxies static 127.0.0.1/8\n\t}'), '6.6.6.6');
  assert.equal(await respond('\tservers {\n\t\ttrusted_proxies static 127.0.0.1/8\n\t\ttrusted_proxies_strict\n\t}'), '203.0.113.7');
  assert.equal(await respond('\tservers {\n\t\ttrusted_proxies static 127.0.0.1/8\n\t\tclient_ip_headers X-Real-IP\n\t}'), '127.0.0.1');
  assert.equal(await respond('\temail a@b.test'), '127.0.0.1');
});

test('header_up X-Real-IP {client_ip} sends the peer address through a real upstream, not an empty value', async () => {
  const upstream = await echoUpstream();
  const gen = await generation(`http://a.test:8080 {\n\treverse_proxy ${upstream} {\n\t\theader_up X-Real-IP {client_ip}\n\t}\n}\n`);
  const served = await serveHttp(handlerFor(() => gen), 8080);
  closers.push(() => served.close());
  const r = await rawRequest(served.port, 'GET / HTTP/1.1\r\nHost: a.test:8080\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 200, r.text);
  const saw = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
  assert.equal(saw['x-real-ip'], '127.0.0.1');
});

test('header_up X-Real-IP {client_ip} behind a trusted proxy sends the client the proxy named, not the proxy', async () => {
  const upstream = await echoUpstream();
  const gen = await generation(
    `{\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/8\n\t}\n}\nhttp://a.test:8080 {\n\treverse_proxy ${upstream} {\n\t\theader_up X-Real-IP {client_ip}\n\t}\n}\n`,
  );
  const served = await serveHttp(handlerFor(() => gen), 8080);
  closers.push(() => served.close());
  const r = await rawRequest(served.port, 'GET / HTTP/1.1\r\nHost: a.test:8080\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 200, r.text);
  const saw = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
  assert.equal(saw['x-real-ip'], '203.0.113.7');
});
