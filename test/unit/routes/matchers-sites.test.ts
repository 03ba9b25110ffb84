/**
 * The new matcher types in real sites, through the config loader, the site router and HTTP:
 * named sets mixing types, `not file`, `@name file { … }`, and an expression.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../../src/config/index.ts';
import { requestContext } from '../../../src/http/request-target.ts';
import { silentLogger } from '../../../src/log.ts';
import { SiteTable } from '../../../src/routes/site-table.ts';
import { withSites } from './serve.ts';

test('a site routes by header, query, protocol, expression and file matchers', async () => {
  await withSites(
    `
http://site.test:8080 {
	@json {
		header Accept *json*
		query format=*
	}
	@admin "{path}.startsWith('/admin') && remote_ip('127.0.0.1/8')"
	@pkg {
		path /pkg
		file {
			try_files /package.json
		}
	}
	@static file {
		try_files {path}.json
	}
	@missing not file
	respond @json "json"
	respond @admin "admin"
	respond @pkg "pkg"
	respond @static "static {file_match.relative}"
	respond @missing "no file {path}" 404
	respond "exists"
}
`,
    async (request) => {
      assert.equal((await request('/x?format=1', 'site.test', { Accept: 'application/json' })).body.toString(), 'json');
      assert.equal((await request('/x', 'site.test', { Accept: 'application/json' })).status, 404, 'query format is required too');
      assert.equal((await request('/admin/panel')).body.toString(), 'admin');
      assert.equal((await request('/pkg')).body.toString(), 'pkg');
      const missing = await request('/nope.txt');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.toString(), 'no file /nope.txt');
      assert.equal((await request('/package.json')).body.toString(), 'exists');
      // The one-line form with a block; respond does not expand {file_match.*} (yet), so only the
      // match is checked here (matchers-file.test.ts checks the values).
      assert.match((await request('/package')).body.toString(), /^static/);
    },
  );
});

test('over HTTP/2: protocol http/2, header fields and Host from :authority', async () => {
  const config = await parseConfig(
    `
http://site.test:8080 {
	@h2 {
		protocol http/2
		header X-Flag on
		header Host site.test
	}
	respond @h2 "h2 {path}"
	respond "other"
}
`,
    { filename: 'test' },
  );
  const table = new SiteTable(config.sites, 'http', 8080, silentLogger());
  const server = http2.createServer((req, res) => {
    const ctx = requestContext(req, 'http');
    const router = ctx && table.find(ctx.host);
    if (!ctx || !router) {
      res.statusCode = 404;
      res.end();
      return;
    }
    void router.handle(req, res, ctx);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const get = (headers: http2.OutgoingHttpHeaders): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':path': '/p', ':authority': 'site.test', ...headers });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => resolve(body));
      req.on('error', reject);
      req.end();
    });
  try {
    assert.equal(await get({ 'x-flag': 'on' }), 'h2 /p');
    assert.equal(await get({ 'x-flag': 'off' }), 'other');
  } finally {
    session.close();
    server.close();
    await table.close();
  }
});
