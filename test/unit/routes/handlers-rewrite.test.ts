/**
 * rewrite, uri and method through the real router and reverse_proxy: what the upstream receives.
 * Expectations were checked against Caddy 2.6.2 with the same site blocks (`caddy run`, an echo
 * upstream, curl); each test says what Caddy answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSites } from './serve.ts';
import { echoUpstream } from './handlers-helpers.ts';

test('rewrite: a path part replaces the path, a query part the query, {query} merges the original (Caddy 2.6.2 sends the same)', async () => {
  const up = await echoUpstream();
  try {
    await withSites(
      `
http://site.test:8080 {
	rewrite /a /new?x=1&{query}
	rewrite /b ?z=2
	rewrite /c /only-path
	rewrite /d /d?{query}&q={path}
	reverse_proxy 127.0.0.1:${up.port}
}
`,
      async (request) => {
        // Caddy 2.6.2: GET /new?x=1&k=v&k2=v%202
        assert.equal((await request('/a?k=v&k2=v%202')).body.toString(), 'GET /new?x=1&k=v&k2=v%202');
        // Caddy 2.6.2: GET /b?z=2 (the original query is replaced)
        assert.equal((await request('/b?y=1')).body.toString(), 'GET /b?z=2');
        // Caddy 2.6.2: GET /only-path?y=1 (no ? in TO: the query is kept)
        assert.equal((await request('/c?y=1')).body.toString(), 'GET /only-path?y=1');
        // Caddy 2.6.2: GET /d?y=1&q=%2Frw%2Fd (placeholders in the query are query-escaped)
        assert.equal((await request('/d?y=1')).body.toString(), 'GET /d?y=1&q=%2Fd');
        assert.equal((await request('/other?k=1')).body.toString(), 'GET /other?k=1', 'no rewrite matched');
      },
    );
  } finally {
    await up.close();
  }
});

test('rewrites exclude each other: only the most specific one runs, and later matchers see the new path', async () => {
  await withSites(
    `
http://site.test:8080 {
	rewrite * /fallback
	rewrite /x* /from-x{path}
	respond /from-x* "x {path} {uri}"
	respond "other {path}"
}
`,
    async (request) => {
      assert.equal((await request('/xyz?q=1')).body.toString(), 'x /from-x/xyz /from-x/xyz?q=1');
      assert.equal((await request('/abc')).body.toString(), 'other /fallback');
    },
  );
});

test('uri strip_prefix, strip_suffix, replace with a limit (path and query), path_regexp (Caddy 2.6.2 sends the same)', async () => {
  const up = await echoUpstream();
  try {
    await withSites(
      `
http://site.test:8080 {
	uri /p/* strip_prefix /p
	uri /s/* strip_suffix .HTML
	uri /r* replace a X 1
	uri /x/* path_regexp ^/x/(\\d+) /num/$1
	reverse_proxy 127.0.0.1:${up.port}
}
`,
      async (request) => {
        // Caddy 2.6.2: /uri/p/x → /p/x
        assert.equal((await request('/p/x?k=1')).body.toString(), 'GET /x?k=1');
        // case-insensitive, as Caddy's trimPathSuffix
        assert.equal((await request('/s/a.html')).body.toString(), 'GET /s/a');
        // Caddy 2.6.2: /uri/raaa?a=a → /uri/rXaa?X=a (the limit counts per part)
        assert.equal((await request('/raaa?a=a')).body.toString(), 'GET /rXaa?X=a');
        // Caddy 2.6.2: /uri/x/42/z → /num/42/z
        assert.equal((await request('/x/42/z')).body.toString(), 'GET /num/42/z');
      },
    );
  } finally {
    await up.close();
  }
});

test('uri query: set, add, delete and rename, encoded with sorted keys as Go does', async () => {
  const up = await echoUpstream();
  try {
    await withSites(
      `
http://site.test:8080 {
	uri query {
		z last
		+a two
		-drop
		old>new
	}
	reverse_proxy 127.0.0.1:${up.port}
}
`,
      async (request) => {
        assert.equal((await request('/q?a=one&drop=1&old=v&z=first')).body.toString(), 'GET /q?a=one&a=two&new=v&z=last');
      },
    );
  } finally {
    await up.close();
  }
});

test('method changes the method the upstream and later matchers see (Caddy 2.6.2: POST /m)', async () => {
  const up = await echoUpstream();
  try {
    await withSites(
      `
http://site.test:8080 {
	method /m post
	reverse_proxy 127.0.0.1:${up.port}
}
`,
      async (request) => {
        assert.equal((await request('/m')).body.toString(), 'POST /m');
        assert.equal((await request('/n')).body.toString(), 'GET /n');
      },
    );
  } finally {
    await up.close();
  }
});

test('an escaped ? in a rewritten or stripped path stays part of the path upstream', async () => {
  const up = await echoUpstream();
  try {
    await withSites(
      `
http://site.test:8080 {
	handle_path /api/* {
		reverse_proxy 127.0.0.1:${up.port}
	}
	uri strip_prefix /p
	reverse_proxy 127.0.0.1:${up.port}
}
`,
      async (request) => {
        assert.equal((await request('/api/a%3Fb?q=1')).body.toString(), 'GET /a%3Fb?q=1');
        assert.equal((await request('/p/c%3Fd?q=2')).body.toString(), 'GET /c%3Fd?q=2');
      },
    );
  } finally {
    await up.close();
  }
});
