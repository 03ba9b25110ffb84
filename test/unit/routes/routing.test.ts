/**
 * Named matchers, `not`, host and method matchers, route blocks, route groups and the `order`
 * option, through the real config loader and site router. Expected answers follow Caddy 2.6.2
 * (checked by hand with the same site blocks; the differential suite compares them live).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSites } from './serve.ts';

test('a named matcher set matches when every line matches; lines of one type are merged (any path)', async () => {
  await withSites(
    `
http://site.test:8080 {
	@api {
		path /api/* /v2/*
		path /exact
		method GET POST
	}
	respond @api "api {path}"
	respond "other"
}
`,
    async (request) => {
      assert.equal((await request('/api/x')).body.toString(), 'api /api/x');
      assert.equal((await request('/v2/y')).body.toString(), 'api /v2/y');
      assert.equal((await request('/exact')).body.toString(), 'api /exact');
      assert.equal((await request('/exactly')).body.toString(), 'other', 'an exact path is exact');
      assert.equal((await request('/api/x', 'site.test', {}, 'DELETE')).body.toString(), 'other', 'the method must match too');
    },
  );
});

test('not (inline and block) holds when none of its sets match; several nots must all hold', async () => {
  await withSites(
    `
http://site.test:8080 {
	@public {
		not path /admin*
		not {
			method POST
			path /upload*
		}
	}
	respond @public "public"
	respond "private" 403
}
`,
    async (request) => {
      assert.equal((await request('/')).body.toString(), 'public');
      assert.equal((await request('/admin/x')).status, 403);
      assert.equal((await request('/upload/a', 'site.test', {}, 'POST')).status, 403, 'both lines of the not block matched');
      assert.equal((await request('/upload/a')).body.toString(), 'public', 'a GET to /upload is not excluded');
    },
  );
});

test('host matchers: case-insensitive, a * label is exactly one label', async () => {
  await withSites(
    `
http://:8080 {
	@sub host *.site.test
	@apex host SITE.test
	respond @sub "sub {host}"
	respond @apex "apex"
	respond "none"
}
`,
    async (request) => {
      assert.equal((await request('/', 'a.site.test')).body.toString(), 'sub a.site.test');
      assert.equal((await request('/', 'site.test')).body.toString(), 'apex');
      assert.equal((await request('/', 'a.b.site.test')).body.toString(), 'none');
    },
  );
});

test('named matchers defined in a handle block are visible there and in its nested blocks', async () => {
  await withSites(
    `
http://site.test:8080 {
	@outer path /o*
	handle {
		@get method GET
		route @outer {
			respond @get "outer get"
		}
		respond "handle"
	}
}
`,
    async (request) => {
      assert.equal((await request('/o')).body.toString(), 'outer get');
      assert.equal((await request('/o', 'site.test', {}, 'POST')).body.toString(), 'handle');
      assert.equal((await request('/x')).body.toString(), 'handle');
    },
  );
});

test('route keeps the order written; the chain goes on after it when nothing in it answers', async () => {
  await withSites(
    `
http://site.test:8080 {
	route /r* {
		respond /r/first "first"
		header X-Late late
		respond /r/second "second"
	}
	respond "after {path}"
}
`,
    async (request) => {
      const first = await request('/r/first');
      assert.equal(first.body.toString(), 'first');
      assert.equal(first.headers['x-late'], undefined, 'the header line comes after respond in the route block and never ran');
      const second = await request('/r/second');
      assert.equal(second.body.toString(), 'second');
      assert.equal(second.headers['x-late'], 'late');
      const none = await request('/r/none');
      assert.equal(none.body.toString(), 'after /r/none');
      assert.equal(none.headers['x-late'], 'late');
    },
  );
});

test('the order option moves a directive: respond before header means the header is never added', async () => {
  const site = `
http://site.test:8080 {
	header X-H 1
	respond "hi"
}
`;
  await withSites(site, async (request) => {
    assert.equal((await request('/')).headers['x-h'], '1', 'default order: header before respond');
  });
  await withSites(`{\n\torder respond first\n}\n${site}`, async (request) => {
    const r = await request('/');
    assert.equal(r.body.toString(), 'hi');
    assert.equal(r.headers['x-h'], undefined);
  });
});
