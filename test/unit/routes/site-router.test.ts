import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { parseConfig } from '../../../src/config/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { SiteTable } from '../../../src/routes/site-table.ts';
import { withSites } from './serve.ts';

test('respond answers with its status and body; an empty site answers an empty 200', async () => {
  await withSites(
    `
http://site.test:8080 {
	respond /teapot "I'm a teapot" 418
	respond /health 204
	respond /echo "{method} {host} {path} {query} {scheme}"
	respond "default"
}
http://empty.test:8080 {
}
`,
    async (request) => {
      const tea = await request('/teapot');
      assert.equal(tea.status, 418);
      assert.equal(tea.body.toString(), "I'm a teapot");
      assert.match(String(tea.headers['content-type']), /^text\/plain/);
      const health = await request('/health');
      assert.equal(health.status, 204);
      assert.equal(health.body.length, 0);
      assert.equal((await request('/echo?a=1')).body.toString(), 'GET site.test /echo a=1 http');
      assert.equal((await request('/anything')).body.toString(), 'default');
      const empty = await request('/', 'empty.test');
      assert.equal(empty.status, 200);
      assert.equal(empty.body.length, 0);
    },
  );
});

test('redir sends Location with the {uri} placeholder expanded and the given status', async () => {
  await withSites(
    `
http://site.test:8080 {
	redir /moved https://example.org{uri} permanent
	redir /tmp /elsewhere
	redir /see /there 303
}
http://old.test:8080 {
	redir https://new.test{uri} 308
}
`,
    async (request) => {
      const moved = await request('/moved?x=1&y=2');
      assert.equal(moved.status, 301);
      assert.equal(moved.headers['location'], 'https://example.org/moved?x=1&y=2');
      const tmp = await request('/tmp');
      assert.equal(tmp.status, 302);
      assert.equal(tmp.headers['location'], '/elsewhere');
      assert.equal((await request('/see')).status, 303);
      const old = await request('/a/b?c', 'old.test');
      assert.equal(old.status, 308);
      assert.equal(old.headers['location'], 'https://new.test/a/b?c');
    },
  );
});

test('handle blocks are exclusive: only the first that matches runs; when it answers nothing the routes after the group run (Caddy 2.6.2 checked)', async () => {
  await withSites(
    `
http://site.test:8080 {
	handle /a* {
		header X-First 1
	}
	handle /api* {
		respond "api"
	}
	handle {
		respond "fallback"
	}
	respond "after the handle group"
}
`,
    async (request) => {
      const a = await request('/abc');
      assert.equal(a.status, 200);
      assert.equal(a.headers['x-first'], '1');
      // Caddy 2.6.2 answers this request with "after the handle group" and X-First: 1: a subroute
      // that answers nothing hands on to the routes after it; the later handles stay skipped.
      assert.equal(a.body.toString(), 'after the handle group', 'later handles were skipped, the routes after the group ran');
      // /api* is more specific than /a* and is sorted first.
      const api = await request('/api/x');
      assert.equal(api.body.toString(), 'api');
      assert.equal(api.headers['x-first'], undefined);
      assert.equal((await request('/other')).body.toString(), 'fallback');
    },
  );
});

test('handle_path strips its prefix before the nested routes see the path', async () => {
  await withSites(
    `
http://site.test:8080 {
	handle_path /api/* {
		respond "{path}|{uri}|{query}"
	}
	handle_path /static* {
		respond "static {path}"
	}
	respond "outer {path}"
}
`,
    async (request) => {
      assert.equal((await request('/api/users/7?full=1')).body.toString(), '/users/7|/api/users/7?full=1|full=1');
      assert.equal((await request('/API/Users')).body.toString().split('|')[0], '/Users', 'prefix matched and stripped case-insensitively');
      assert.equal((await request('/api/')).body.toString().split('|')[0], '/');
      assert.equal((await request('/static')).body.toString(), 'static /');
      assert.equal((await request('/static/css/a.css')).body.toString(), 'static /css/a.css');
      assert.equal((await request('/api')).body.toString(), 'outer /api', '/api/* does not match /api');
    },
  );
});

test('header directives apply to what respond and nested handlers send', async () => {
  await withSites(
    `
http://site.test:8080 {
	header X-Site example
	header /static/* Cache-Control "public, max-age=60"
	header -X-Drop
	handle /static/* {
		header X-Drop 1
		respond "file"
	}
	respond "page"
}
`,
    async (request) => {
      const page = await request('/');
      assert.equal(page.headers['x-site'], 'example');
      assert.equal(page.headers['cache-control'], undefined);
      const file = await request('/static/a.css');
      assert.equal(file.body.toString(), 'file');
      assert.equal(file.headers['x-site'], 'example');
      assert.equal(file.headers['cache-control'], 'public, max-age=60');
      // The site's `header -X-Drop` wraps the nested handler's `header X-Drop 1`, so it applies last.
      assert.equal(file.headers['x-drop'], undefined);
    },
  );
});

test('encode compresses what respond sends when the client accepts it', async () => {
  const big = 'x'.repeat(4096);
  await withSites(`http://site.test:8080 {\n\tencode gzip\n\trespond "${big}"\n}\n`, async (request) => {
    const r = await request('/', 'site.test', { 'accept-encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(r.body).toString(), big);
    const plain = await request('/');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), big);
  });
});

test('site table: exact host first, then a wildcard covering one label, then the catch-all', async () => {
  await withSites(
    `
http://a.test:8080 {
	respond "exact a"
}
http://*.test:8080 {
	respond "wildcard"
}
:8080 {
	respond "catch-all"
}
`,
    async (request) => {
      const cases: [string, string][] = [
        ['a.test', 'exact a'],
        ['A.TEST', 'exact a'],
        ['a.test.', 'exact a'],
        ['a.test:8080', 'exact a'],
        ['b.test', 'wildcard'],
        ['x.b.test', 'catch-all'],
        ['test', 'catch-all'],
        ['other.example', 'catch-all'],
        ['127.0.0.1', 'catch-all'],
      ];
      for (const [host, want] of cases) assert.equal((await request('/', host)).body.toString(), want, host);
    },
  );
});

test('site table: only the sites of its protocol and port, and no catch-all means no site', async () => {
  const config = await parseConfig(
    `
http://a.test:8080 {
	respond "a"
}
http://*.w.test:8080 {
	respond "w"
}
http://b.test:9090 {
	respond "b"
}
c.test {
	respond "c"
}
`,
    { filename: 'test' },
  );
  const http8080 = new SiteTable(config.sites, 'http', 8080, silentLogger());
  const http9090 = new SiteTable(config.sites, 'http', 9090, silentLogger());
  const https443 = new SiteTable(config.sites, 'https', 443, silentLogger());
  const http81 = new SiteTable(config.sites, 'http', 81, silentLogger());
  try {
    assert.equal(http8080.find('a.test')?.site.addresses[0]?.host, 'a.test');
    assert.equal(http8080.find('x.w.test')?.site.addresses[0]?.host, '*.w.test');
    assert.equal(http8080.find('y.x.w.test'), undefined);
    assert.equal(http8080.find('w.test'), undefined);
    assert.equal(http8080.find('b.test'), undefined);
    assert.equal(http8080.find('c.test'), undefined);
    assert.equal(http9090.find('b.test')?.site.addresses[0]?.host, 'b.test');
    assert.equal(https443.find('c.test')?.site.addresses[0]?.host, 'c.test');
    assert.equal(https443.find('a.test'), undefined);
    assert.equal(http81.routers.length, 0);
    assert.equal(http8080.routers.length, 2);
  } finally {
    await Promise.all([http8080, http9090, https443, http81].map((t) => t.close()));
  }
});
