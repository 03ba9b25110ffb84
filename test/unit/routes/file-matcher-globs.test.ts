/**
 * The file matcher's globs, `=CODE` entries and first_exist_fallback policy, on a real directory.
 * The expected answers are the Caddy 2.6.2 binary's (checked by hand with `caddy run`: /x/*.html
 * gives /x/a.html, a glob in a query value is not expanded, `=404` before any file gives 404, `=418`
 * first gives 418, an entry after a found file is never reached) and Caddy 2.8's matcher.go for
 * first_exist_fallback, which 2.6.2 refuses.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../src/config/index.ts';
import { HandlerError } from '../../../src/routes/handlers/errors.ts';
import { withSites } from './serve.ts';
import { matcherOf, requestOf, type RequestSpec } from './matchers-helpers.ts';

let root = '';

before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'ms-file-globs-'));
  mkdirSync(path.join(root, 'x', 'deep'), { recursive: true });
  mkdirSync(path.join(root, 'y', 'deep'), { recursive: true });
  mkdirSync(path.join(root, 'dir.html'));
  writeFileSync(path.join(root, 'x', 'b.html'), 'bb');
  writeFileSync(path.join(root, 'x', 'a.html'), 'a');
  writeFileSync(path.join(root, 'x', 'c.txt'), 'c');
  writeFileSync(path.join(root, 'x', 'lit*.txt'), 'literal star');
  writeFileSync(path.join(root, 'y', 'deep', 'z.md'), 'zzz');
  writeFileSync(path.join(root, 'index.php'), '<?php');
});

after(() => rmSync(root, { recursive: true, force: true }));

async function pick(def: string, spec: RequestSpec = {}): Promise<{ relative: string | undefined; type: string | undefined } | undefined> {
  const m = await matcherOf(`file {\nroot ${root}\n${def}\n}`);
  const { req, ctx } = requestOf(spec);
  if (!m(req, ctx)) return undefined;
  return { relative: ctx.values?.get('http.matchers.file.relative'), type: ctx.values?.get('http.matchers.file.type') };
}

async function errorOf(def: string, spec: RequestSpec = {}): Promise<HandlerError | undefined> {
  try {
    await pick(def, spec);
    return undefined;
  } catch (err) {
    if (err instanceof HandlerError) return err;
    throw err;
  }
}

test('globs: the first match in name order; * stays inside a segment; globs in folder names too', async () => {
  assert.deepEqual(await pick('try_files /x/*.html'), { relative: '/x/a.html', type: 'file' });
  assert.deepEqual(await pick('try_files /x/[bc].*'), { relative: '/x/b.html', type: 'file' });
  assert.deepEqual(await pick('try_files /x/?.txt'), { relative: '/x/c.txt', type: 'file' });
  assert.equal(await pick('try_files /*.md'), undefined, '* does not cross a /');
  assert.deepEqual(await pick('try_files /*/deep/*.md'), { relative: '/y/deep/z.md', type: 'file' });
  // A directory matched by a name without / is skipped (strict existence), as for a plain name.
  assert.deepEqual(await pick('try_files /*.html /index.php'), { relative: '/index.php', type: 'file' });
  assert.equal(await pick('try_files /nothing/*.html'), undefined);
  // An escaped star is the character.
  assert.deepEqual(await pick('try_files /x/lit\\*.txt'), { relative: '/x/lit*.txt', type: 'file' });
});

test('globs with size policies pick among every match', async () => {
  assert.equal((await pick('try_files /x/*.html\ntry_policy largest_size'))?.relative, '/x/b.html');
  assert.equal((await pick('try_files /x/*.html\ntry_policy smallest_size'))?.relative, '/x/a.html');
});

test('a placeholder value is never a glob: the request cannot list a folder', async () => {
  assert.equal(await pick('try_files /{query.f}', { url: '/?f=x/*.html' }), undefined);
  assert.equal(await pick('try_files /{query.f}', { url: '/?f=x/%5Bab%5D.html' }), undefined);
  assert.equal(await pick('try_files /x/{query.f}', { url: '/?f=%5C*.html' }), undefined, 'a backslash in the value does not undo the escape');
  // A file whose name has a glob character is still found by its own name.
  assert.equal((await pick('try_files /{query.f}', { url: '/?f=x/lit*.txt' }))?.relative, '/x/lit*.txt');
  assert.equal((await pick('try_files {path}', { url: '/x/lit*.txt' }))?.relative, '/x/lit*.txt');
});

test('=CODE: reached before a file matched, it raises that status as an error; after one, never', async () => {
  assert.equal((await errorOf('try_files /nope.html =404'))?.status, 404);
  assert.equal((await errorOf('try_files /nope.html =404'))?.detail, '404');
  assert.deepEqual(await pick('try_files /x/c.txt =403'), { relative: '/x/c.txt', type: 'file' });
  assert.equal((await errorOf('try_files =418 /x/c.txt'))?.status, 418);
  assert.equal((await errorOf('try_files /nope =+410'))?.status, 410, "Go's Atoi takes a sign");
  // Out of range or not a number: an ordinary (missing) file name, as in Caddy.
  assert.equal(await pick('try_files /nope =99 =1000 =abc'), undefined);
  // Only first_exist looks at codes: the size policies take "=404" as a file name.
  assert.equal(await pick('try_files /nope =404\ntry_policy largest_size'), undefined);
});

test('first_exist_fallback: an earlier entry that exists wins; else the last entry, taken without a stat', async () => {
  assert.deepEqual(await pick('try_files {path} /index.php\ntry_policy first_exist_fallback', { url: '/x/a.html' }), { relative: '/x/a.html', type: 'file' });
  assert.deepEqual(await pick('try_files {path} /index.php\ntry_policy first_exist_fallback', { url: '/missing' }), { relative: '/index.php', type: 'file' });
  // Not checked at all: a missing last entry is still chosen, reported as a file.
  assert.deepEqual(await pick('try_files {path} /gone.php\ntry_policy first_exist_fallback', { url: '/missing' }), { relative: '/gone.php', type: 'file' });
  assert.equal((await errorOf('try_files {path} =404 /index.php\ntry_policy first_exist_fallback', { url: '/missing' }))?.status, 404);
});

test('try_files {path} =404 answers through handle_errors; policy first_exist_fallback is taken', async () => {
  await withSites(
    `
http://site.test:8080 {
	root * ${root}
	handle /spa/* {
		try_files /x/{file} /x/{path} /index.php {
			policy first_exist_fallback
		}
		respond "{path}"
	}
	handle {
		try_files {path} =404
		file_server
	}
	handle_errors {
		respond "missing {err.status_code}" 404
	}
}
`,
    async (request) => {
      assert.equal((await request('/x/a.html')).body.toString(), 'a');
      const missing = await request('/x/none.html');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.toString(), 'missing 404');
      assert.equal((await request('/spa/a.html')).body.toString(), '/x/a.html');
      assert.equal((await request('/spa/route/7')).body.toString(), '/index.php');
    },
  );
});

test('the expression form file({try_policy: first_exist_fallback}) takes the policy as the matcher does', async () => {
  await withSites(
    `
http://site.test:8080 {
	root * ${root}
	@fb expression file({'try_files': [{path}, '/gone.php'], 'try_policy': 'first_exist_fallback'})
	respond @fb "{file_match.relative}"
	respond "no match"
}
`,
    async (request) => {
      assert.equal((await request('/x/a.html')).body.toString(), '/x/a.html');
      // first_exist would not match (gone.php does not exist); the fallback takes it unchecked.
      assert.equal((await request('/missing')).body.toString(), '/gone.php');
    },
  );
});

test('config errors: an unclosed glob class, and a second try_files policy, name the token', async () => {
  await assert.rejects(parseConfig('http://site.test:8080 {\n\ttry_files {path} /x/[ab.html\n}\n', { filename: 't' }), /t:2:19: file: "\/x\/\[ab\.html" has a "\[" with no closing "\]"/);
  await assert.rejects(parseConfig('http://site.test:8080 {\n\t@f file /[a\n\trespond @f 1\n}\n', { filename: 't' }), /t:2:10: file: "\/\[a" has a "\["/);
  await assert.rejects(
    parseConfig('http://site.test:8080 {\n\ttry_files {path} {\n\t\tpolicy first_exist\n\t\tpolicy largest_size\n\t}\n}\n', { filename: 't' }),
    /t:4:3: try_files: policy is already set/,
  );
  // Placeholders are not globs: `{path}` and `[` inside one are fine.
  await parseConfig('http://site.test:8080 {\n\ttry_files {path} {query.a[0]} /[slug].html\n}\n', { filename: 't' });
});
