/**
 * try_files as Caddy expands it: a file matcher and a rewrite to the file found. The SPA and
 * front-controller shapes of the corpus (cases 07/27: `try_files {path} /index.html`; 26:
 * `try_files {path} {path}/ /index.php?{query}`), checked against Caddy 2.6.2 by hand.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withSites } from '../routes/serve.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-try-'));
mkdirSync(path.join(dir, 'assets'));
writeFileSync(path.join(dir, 'index.html'), '<app>');
writeFileSync(path.join(dir, 'index.php'), '<?php');
writeFileSync(path.join(dir, 'assets/app.js'), 'js()');
after(() => rmSync(dir, { recursive: true, force: true }));

test('SPA fallback: existing files are served, every other path gets /index.html; the API is not touched', async () => {
  await withSites(
    `
http://site.test:8080 {
	root * ${dir}
	handle /api/* {
		respond "api {path}"
	}
	handle {
		try_files {path} /index.html
		file_server
	}
}
`,
    async (request) => {
      assert.equal((await request('/assets/app.js')).body.toString(), 'js()');
      const deep = await request('/users/42/profile?tab=1');
      assert.equal(deep.status, 200);
      assert.equal(deep.body.toString(), '<app>');
      assert.equal((await request('/api/x')).body.toString(), 'api /api/x');
    },
  );
});

test('an entry with a query rewrites to it (front controller); the rewrite keeps the query otherwise', async () => {
  await withSites(
    `
http://site.test:8080 {
	root * ${dir}
	try_files {path} /index.php?{query}&p={path}
	respond "{uri}"
}
`,
    async (request) => {
      assert.equal((await request('/assets/app.js?v=2')).body.toString(), '/assets/app.js?v=2');
      // Caddy 2.6.2 answers /index.php?a=1&p=%2Fblog%2Fpost: placeholders in a rewrite's query are query-escaped.
      assert.equal((await request('/blog/post?a=1')).body.toString(), '/index.php?a=1&p=%2Fblog%2Fpost');
    },
  );
});

test('try_files errors name the token', async () => {
  await assert.rejects(withSites('http://site.test:8080 {\n\ttry_files {path} {\n\t\tpolicy biggest\n\t}\n}\n', async () => undefined), /test:3:10: try_files: unknown try policy "biggest" \(one of first_exist, first_exist_fallback, smallest_size, largest_size, most_recently_modified\)/);
});
