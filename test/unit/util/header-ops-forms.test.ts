import { test } from 'node:test';
import assert from 'node:assert/strict';
import http, { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http';
import { parseConfig } from '../../../src/config/index.ts';
import type { HeaderOp, HeaderRoute } from '../../../src/config/types.ts';
import { responseHooks } from '../../../src/http/response-hooks.ts';
import { silentLogger } from '../../../src/log.ts';
import { applyResponseHeaderOps } from '../../../src/routes/header-ops.ts';
import { SiteTable } from '../../../src/routes/site-table.ts';
import { applyHeaderOps, headerFields } from '../../../src/util/header-ops.ts';
import { contextOf, get, serve, serveSites, type Reply } from '../routes/serve.ts';

/** The ops of `header` lines as the config parser makes them (so the table tests the forms end to end). */
async function opsOf(directive: string): Promise<readonly HeaderOp[]> {
  const config = await parseConfig(`http://site.test {\n\t${directive}\n}\n`, { filename: 'test' });
  return (config.sites[0]!.routes[0] as HeaderRoute).ops;
}

const expand = (v: string): string => v.replaceAll('{host}', 'site.test');

const cases: { name: string; directive: string; before: OutgoingHttpHeaders; after: OutgoingHttpHeaders }[] = [
  { name: 'set replaces every value', directive: 'header X-A new', before: { 'x-a': ['1', '2'] }, after: { 'x-a': 'new' } },
  { name: 'set expands placeholders', directive: 'header X-Host {host}', before: {}, after: { 'x-host': 'site.test' } },
  { name: 'add appends', directive: 'header +X-A 3', before: { 'x-a': ['1', '2'] }, after: { 'x-a': ['1', '2', '3'] } },
  { name: 'add creates', directive: 'header +X-A 1', before: {}, after: { 'x-a': '1' } },
  { name: 'delete', directive: 'header -X-A', before: { 'x-a': '1', 'x-b': '2' }, after: { 'x-b': '2' } },
  {
    name: 'prefix wildcard delete',
    directive: 'header -X-Secret-*',
    before: { 'x-secret-a': '1', 'x-secret-b': '2', 'x-keep': '3' },
    after: { 'x-keep': '3' },
  },
  { name: 'delete every field', directive: 'header -*', before: { 'x-a': '1', server: 's' }, after: {} },
  { name: 'default sets an absent field', directive: 'header ?Cache-Control max-age=60', before: {}, after: { 'cache-control': 'max-age=60' } },
  {
    name: 'default keeps a present field',
    directive: 'header ?Cache-Control max-age=60',
    before: { 'cache-control': 'no-store' },
    after: { 'cache-control': 'no-store' },
  },
  { name: '>NAME sets', directive: 'header >Server mine', before: { server: 'upstream' }, after: { server: 'mine' } },
  {
    name: 'replace with a capture group in every value',
    directive: 'header Location ^http://(.*)$ https://$1',
    before: { location: 'http://a.test/x' },
    after: { location: 'https://a.test/x' },
  },
  {
    name: 'replace every match, Go named group and case-insensitive flag',
    directive: 'header Set-Cookie "(?i)(?P<k>SID)=" "${k}_old="',
    before: { 'set-cookie': ['sid=1; sid=2', 'other=3'] },
    after: { 'set-cookie': ['sid_old=1; sid_old=2', 'other=3'] },
  },
  {
    name: 'replace in every field, empty replacement removes',
    directive: 'header * * "internal\\.?" ""',
    before: { 'x-a': 'internal.host', 'x-b': 'aninternal' },
    after: { 'x-a': 'host', 'x-b': 'an' },
  },
  { name: 'replace of an absent field does nothing', directive: 'header X-None a b', before: { 'x-a': 'a' }, after: { 'x-a': 'a' } },
  {
    name: 'block: -* first, then adds in order, sets, deletes, replaces',
    directive: 'header {\n\t\tX-B e ee\n\t\t-X-Drop\n\t\t+X-Multi one\n\t\t-*\n\t\tX-B set\n\t\t+X-Multi two\n\t}',
    before: { 'x-drop': '1', 'x-old': '2' },
    after: { 'x-multi': ['one', 'two'], 'x-b': 'seet' },
  },
];

for (const c of cases) {
  test(`applyHeaderOps on a header object: ${c.name}`, async () => {
    const headers: OutgoingHttpHeaders = structuredClone(c.before);
    applyHeaderOps(headerFields(headers), await opsOf(c.directive), expand);
    assert.deepEqual(headers, c.after);
  });
}

test('applyHeaderOps on a real ServerResponse: each form, as the client receives it', async () => {
  const ops = await opsOf(
    'header {\n\t\t+X-Multi two\n\t\t?X-Default d\n\t\t?X-Present d\n\t\t-X-Gone\n\t\tLocation ^http: https:\n\t\tX-Host {host}\n\t}',
  );
  const s = await serve((_req, res: http.ServerResponse) => {
    res.setHeader('X-Multi', 'one');
    res.setHeader('X-Present', 'kept');
    res.setHeader('X-Gone', 'x');
    res.setHeader('Location', 'http://a.test/');
    applyHeaderOps(res, ops, expand);
    res.end('ok');
  });
  let r: Reply;
  try {
    r = await get(s.port, '/');
  } finally {
    await s.close();
  }
  assert.equal(r.headers['x-multi'], 'one, two');
  assert.equal(r.headers['x-default'], 'd');
  assert.equal(r.headers['x-present'], 'kept');
  assert.equal(r.headers['x-gone'], undefined);
  assert.equal(r.headers.location, 'https://a.test/');
  assert.equal(r.headers['x-host'], 'site.test');
});

/** Serves the http:8080 sites of `proxyfile` and returns the reply to GET `path`. */
async function throughSite(proxyfile: string, path = '/', headers: OutgoingHttpHeaders = {}): Promise<Reply> {
  const config = await parseConfig(proxyfile, { filename: 'test' });
  const table = new SiteTable(config.sites, 'http', 8080, silentLogger());
  const s = await serve(async (req, res) => {
    const ctx = contextOf(req);
    await table.find(ctx.host)!.handle(req, res, ctx);
  });
  try {
    return await get(s.port, path, { host: 'site.test', ...headers });
  } finally {
    await s.close();
    await table.close();
  }
}

function values(r: Reply, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i]!.toLowerCase() === name) out.push(r.rawHeaders[i + 1]!);
  return out;
}

test('two header +X-Multi directives append in the order written, as in Caddy (they came out reversed)', async () => {
  const r = await throughSite('http://site.test:8080 {\n\theader +X-Multi a\n\theader +X-Multi b\n\theader +X-Multi c\n\trespond "ok"\n}\n');
  assert.deepEqual(values(r, 'x-multi'), ['a', 'b', 'c']);
});

test('of two header directives setting one field, the later one wins (not deferred: applied as written)', async () => {
  const r = await throughSite('http://site.test:8080 {\n\theader X-Who first\n\theader X-Who second\n\trespond "ok"\n}\n');
  assert.deepEqual(values(r, 'x-who'), ['second']);
});

test('a deferred header directive applies after the non-deferred ones, whatever the order written', async () => {
  const r = await throughSite(
    'http://site.test:8080 {\n\theader -X-Tmp\n\theader X-Tmp 1\n\theader +X-Multi a\n\theader ?X-Multi never\n\theader +X-Multi b\n\trespond "ok"\n}\n',
  );
  assert.deepEqual(values(r, 'x-tmp'), []);
  assert.deepEqual(values(r, 'x-multi'), ['a', 'b']);
});

test('the header replay keeps what another head hook did between two header directives', async () => {
  const a = await opsOf('header +X-Multi a');
  const b = await opsOf('header +X-Multi b');
  const s = await serve((req, res) => {
    const ctx = contextOf(req);
    // Registered in written order; hooks run innermost (last registered) first, as encode's would.
    responseHooks(res).onHead(() => applyResponseHeaderOps(res, a, req, ctx));
    responseHooks(res).onHead(() => res.setHeader('Content-Encoding', 'gzip'));
    responseHooks(res).onHead(() => applyResponseHeaderOps(res, b, req, ctx));
    res.end();
  });
  let r: Reply;
  try {
    r = await get(s.port, '/');
  } finally {
    await s.close();
  }
  assert.equal(r.headers['content-encoding'], 'gzip');
  assert.deepEqual(values(r, 'x-multi').sort(), ['a', 'b']);
});

test('header_up and header_down forms reach a real upstream and client through reverse_proxy', async () => {
  let seen: http.IncomingHttpHeaders = {};
  const upstream = createServer((req, res) => {
    seen = req.headers;
    res.setHeader('Location', 'http://internal.test/next');
    res.setHeader('X-Up-Multi', 'u');
    res.setHeader('X-Internal-Id', '7');
    res.end('up');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  try {
    const r = await throughSite(
      `http://site.test:8080 {\n\treverse_proxy 127.0.0.1:${port} {\n` +
        '\t\theader_up +X-Multi a\n\t\theader_up +X-Multi b\n\t\theader_up User-Agent "^(\\w+)/.*$" "$1-proxied"\n\t\theader_up -X-Drop-*\n' +
        '\t\theader_down Location ^http://internal\\.test https://site.test\n\t\theader_down +X-Up-Multi d\n\t\theader_down -X-Internal-*\n\t}\n}\n',
      '/',
      { 'user-agent': 'curl/8.0', 'x-drop-me': '1' },
    );
    assert.equal(r.body.toString(), 'up');
    assert.equal(seen['x-multi'], 'a, b');
    assert.equal(seen['user-agent'], 'curl-proxied');
    assert.equal(seen['x-drop-me'], undefined);
    assert.equal(r.headers.location, 'https://site.test/next');
    assert.deepEqual(values(r, 'x-up-multi'), ['u', 'd']);
    assert.equal(r.headers['x-internal-id'], undefined);
  } finally {
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
});

test('through the router, a directive deferred by > alone applies after the ordinary ones (Caddy: deferred last)', async () => {
  const s = await serveSites(`{\n\tauto_https off\n}\nhttp://site.test:8080 {\n\theader >X-Order deferred\n\theader X-Order ordinary\n\trespond "ok"\n}\n`, 8080);
  try {
    const r = await get(s.port, '/', { host: 'site.test' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-order'], 'deferred');
  } finally {
    await s.close();
  }
});
