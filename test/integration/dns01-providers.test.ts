/**
 * The HTTP-API providers against local stand-ins: the real services (Cloudflare, an acme-dns
 * server) cannot be reached from tests. Each stand-in follows the service's published API for the
 * calls the provider makes (Cloudflare API v4 docs: "List Zones", "Create DNS Record", "List DNS
 * Records", "Delete DNS Record"; acme-dns README: "Update endpoint"), and each test checks the
 * request/response transcript.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dns01TxtValue } from '../../src/acme/dns01.ts';
import { CloudflareProvider } from '../../src/dns/cloudflare.ts';
import { createDnsProvider } from '../../src/dns/providers.ts';
import { Dns01Solver } from '../../src/dns/solver.ts';
import { describeError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { FileStorage } from '../../src/storage/file-storage.ts';

interface Exchange {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  status: number;
  response: unknown;
}

/** A local HTTP server answering with `handle`, keeping every request and answer in order. */
async function standIn(handle: (method: string, url: URL, headers: http.IncomingHttpHeaders, body: unknown) => { status: number; body: unknown }) {
  const transcript: Exchange[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d)).on('end', () => {
      const body: unknown = raw === '' ? undefined : JSON.parse(raw);
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const out = handle(req.method ?? '', url, req.headers, body);
      transcript.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, status: out.status, response: out.body });
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, transcript, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('cloudflare: zone lookup, create, then find and delete exactly the record, with the API token (stand-in for api.cloudflare.com/client/v4)', async (t) => {
  const records = new Map<string, { id: string; type: string; name: string; content: string; ttl: number }>();
  let next = 1;
  const cf = await standIn((method, url, headers, body) => {
    if (headers.authorization !== 'Bearer dns-edit-token' && headers.authorization !== 'Bearer zone-read-token') {
      return { status: 403, body: { success: false, errors: [{ code: 10000, message: 'Authentication error' }], messages: [], result: null } };
    }
    const ok = (result: unknown) => ({ status: 200, body: { success: true, errors: [], messages: [], result } });
    if (method === 'GET' && url.pathname === '/client/v4/zones') {
      return ok(url.searchParams.get('name') === 'example.com' ? [{ id: 'zone-023e105f', name: 'example.com', status: 'active' }] : []);
    }
    const m = /^\/client\/v4\/zones\/zone-023e105f\/dns_records(?:\/(.+))?$/.exec(url.pathname);
    if (m !== null && method === 'POST') {
      const b = body as { type: string; name: string; content: string; ttl: number };
      const rec = { id: `rec-${next++}`, ...b };
      records.set(rec.id, rec);
      return ok(rec);
    }
    if (m !== null && method === 'GET') {
      return ok([...records.values()].filter((r) => r.type === url.searchParams.get('type') && r.name === url.searchParams.get('name') && r.content === url.searchParams.get('content')));
    }
    if (m !== null && method === 'DELETE' && m[1] !== undefined && records.delete(m[1])) return ok({ id: m[1] });
    return { status: 404, body: { success: false, errors: [{ code: 7003, message: 'Could not route to /zones, perhaps your object identifier is invalid?' }], messages: [], result: null } };
  });
  t.after(() => cf.close());
  const p = new CloudflareProvider({ apiToken: 'dns-edit-token', zoneToken: 'zone-read-token', baseUrl: `${cf.url}/client/v4` });
  const a = { name: '_acme-challenge', type: 'TXT' as const, value: 'value-a', ttlSeconds: 120 };
  const b = { ...a, value: 'value-b' };
  await p.appendRecords('example.com.', [a, b]);
  await p.deleteRecords('example.com.', [a]);
  assert.deepEqual([...records.values()].map((r) => r.content), ['value-b']);
  assert.deepEqual(
    cf.transcript.map((x) => [x.method, x.url, x.headers.authorization, x.body, x.status]),
    [
      ['GET', '/client/v4/zones?name=example.com', 'Bearer zone-read-token', undefined, 200],
      ['POST', '/client/v4/zones/zone-023e105f/dns_records', 'Bearer dns-edit-token', { type: 'TXT', name: '_acme-challenge.example.com', content: 'value-a', ttl: 120 }, 200],
      ['POST', '/client/v4/zones/zone-023e105f/dns_records', 'Bearer dns-edit-token', { type: 'TXT', name: '_acme-challenge.example.com', content: 'value-b', ttl: 120 }, 200],
      ['GET', '/client/v4/zones/zone-023e105f/dns_records?type=TXT&name=_acme-challenge.example.com&content=value-a', 'Bearer dns-edit-token', undefined, 200],
      ['DELETE', '/client/v4/zones/zone-023e105f/dns_records/rec-1', 'Bearer dns-edit-token', undefined, 200],
    ],
  );

  const bad = new CloudflareProvider({ apiToken: 'wrong', baseUrl: `${cf.url}/client/v4` });
  await assert.rejects(bad.appendRecords('example.com.', [a]), (err: unknown) => {
    assert.match(describeError(err), /cloudflare: GET \/zones: HTTP 403: 10000 Authentication error/);
    assert.ok(!describeError(err).includes('wrong'), 'the token is not in the message');
    return true;
  });
});

test('acmedns: each value is posted to /update for the account\'s subdomain; the secret comes from {env.VAR}', async (t) => {
  const SUB = 'd420c923-bbd7-4056-ab64-c3ca54c9b3cf';
  const acmeDns = await standIn((method, url, headers, body) => {
    const b = body as { subdomain?: string; txt?: string } | undefined;
    if (method !== 'POST' || url.pathname !== '/update') return { status: 404, body: { error: 'not found' } };
    if (headers['x-api-user'] !== 'c36f50e8-4632-44f0-83fe-e070fef28a10' || headers['x-api-key'] !== 'htB9mR9DYgcu9bX_afHF62erXaH2TS7bg9KW3F7Z') {
      return { status: 401, body: { error: 'forbidden' } };
    }
    if (b?.subdomain !== SUB || b.txt?.length !== 43) return { status: 400, body: { error: 'bad_txt' } };
    return { status: 200, body: { txt: b.txt } };
  });
  t.after(() => acmeDns.close());
  const dir = await mkdtemp(join(tmpdir(), 'my-server-acmedns-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pos = { file: 'Proxyfile', line: 1, col: 1 };
  const made = createDnsProvider(
    { provider: 'acmedns', serverUrl: acmeDns.url, username: 'c36f50e8-4632-44f0-83fe-e070fef28a10', password: '{env.ACMEDNS_PASSWORD}', subdomain: SUB, pos },
    { ACMEDNS_PASSWORD: 'htB9mR9DYgcu9bX_afHF62erXaH2TS7bg9KW3F7Z' },
  );
  assert.ok(!made.identity.includes('htB9'), 'the identity kept in storage holds no secret');
  // acme-dns serves the record itself; the CNAME to it is the user's one-time setup, so no DNS is asked here.
  const solver = new Dns01Solver({ ...made, storage: new FileStorage(dir), log: createLogger({ level: 'silent' }), propagationTimeoutMs: -1 });
  const wildcard = { type: 'dns-01', token: 't1', keyAuthorization: 't1.thumb', identifier: { type: 'dns' as const, value: '*.example.org' } };
  const base = { ...wildcard, token: 't2', keyAuthorization: 't2.thumb', identifier: { type: 'dns' as const, value: 'example.org' } };
  await solver.present(wildcard);
  await solver.present(base);
  await solver.cleanup(wildcard);
  await solver.cleanup(base);
  assert.deepEqual(
    acmeDns.transcript.map((x) => [x.method, x.url, x.headers['content-type'], x.body, x.status, x.response]),
    [
      ['POST', '/update', 'application/json', { subdomain: SUB, txt: dns01TxtValue('t1.thumb') }, 200, { txt: dns01TxtValue('t1.thumb') }],
      ['POST', '/update', 'application/json', { subdomain: SUB, txt: dns01TxtValue('t2.thumb') }, 200, { txt: dns01TxtValue('t2.thumb') }],
    ],
  );
  assert.throws(() => createDnsProvider({ provider: 'acmedns', serverUrl: acmeDns.url, username: 'u', password: '{env.UNSET_SECRET}', subdomain: SUB, pos }, {}), /Proxyfile:1:1: DNS provider acmedns: password: environment variable UNSET_SECRET is not set/);
});
