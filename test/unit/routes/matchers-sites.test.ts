/**
 * The new matcher types in real sites, through the config loader, the site router and HTTP:
 * named sets mixing types, `not file`, `@name file { … }`, and an expression.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
