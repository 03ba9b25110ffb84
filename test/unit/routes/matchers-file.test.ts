/**
 * The file matcher on a real directory: try_files, try_policy, split_path, the root variable,
 * the {file_match.*} values, and request paths that try to leave the root.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { matcherOf, requestOf, type RequestSpec } from './matchers-helpers.ts';

let root = '';
let outside = '';

before(() => {
  outside = mkdtempSync(path.join(tmpdir(), 'ms-file-matcher-'));
  root = path.join(outside, 'site');
  mkdirSync(path.join(root, 'dir'), { recursive: true });
  writeFileSync(path.join(root, 'index.html'), 'index');
  writeFileSync(path.join(root, 'a.php'), '<?php');
  writeFileSync(path.join(root, 'small.txt'), 's');
  writeFileSync(path.join(root, 'big.txt'), 'b'.repeat(100));
  writeFileSync(path.join(root, 'empty.txt'), '');
  writeFileSync(path.join(outside, 'secret.txt'), 'secret');
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(path.join(root, 'big.txt'), old, old);
  utimesSync(path.join(root, 'empty.txt'), old, old);
});

after(() => rmSync(outside, { recursive: true, force: true }));

async function fileMatch(def: string, spec: RequestSpec): Promise<Map<string, string> | undefined> {
  const m = await matcherOf(def);
  const { req, ctx } = requestOf(spec);
  if (!m(req, ctx)) return undefined;
  return new Map([...(ctx.values ?? new Map<string, string>())].filter(([k]) => k.startsWith('http.matchers.file.')).map(([k, v]) => [k.slice(19), v]));
}

test('file: the request path under root; a file, not a directory, unless the name ends in /', async () => {
  const hit = await fileMatch(`file {\nroot ${root}\n}`, { url: '/a.php' });
  assert.deepEqual(Object.fromEntries(hit ?? []), { relative: '/a.php', absolute: path.join(root, 'a.php'), remainder: '', type: 'file' });
  assert.equal(await fileMatch(`file {\nroot ${root}\n}`, { url: '/nope' }), undefined);
  assert.equal(await fileMatch(`file {\nroot ${root}\n}`, { url: '/dir' }), undefined, 'a directory does not match a name without /');
  const dir = await fileMatch(`file {\nroot ${root}\ntry_files {path} {path}/ /index.html\n}`, { url: '/dir' });
  assert.equal(dir?.get('type'), 'directory');
  assert.equal(dir?.get('relative'), '/dir/');
  const fallback = await fileMatch(`file {\nroot ${root}\ntry_files {path} /index.html\n}`, { url: '/missing' });
  assert.equal(fallback?.get('relative'), '/index.html');
});

test('file: one-line form and the root variable (set by the root directive), else the working directory', async () => {
  const hit = await fileMatch('file /index.html', { url: '/x', vars: { root } });
  assert.equal(hit?.get('absolute'), path.join(root, 'index.html'));
  const fromVar = await fileMatch('file', { url: '/small.txt', vars: { root } });
  assert.equal(fromVar?.get('relative'), '/small.txt');
  // No root at all: the working directory (package.json is there when the tests run).
  const cwd = await fileMatch('file', { url: '/package.json' });
  assert.equal(cwd?.get('type'), 'file');
});

test('file: a request path or try_files entry never leaves the root', async () => {
  assert.equal(await fileMatch(`file {\nroot ${root}\ntry_files /../secret.txt\n}`, {}), undefined);
  assert.equal(await fileMatch(`file {\nroot ${root}\ntry_files {query.f}\n}`, { url: '/?f=../secret.txt' }), undefined);
  // Climbing out and back in is cleaned as a rooted path too: /site/small.txt under root, absent.
  assert.equal(await fileMatch(`file {\nroot ${root}\ntry_files {query.f}\n}`, { url: '/?f=..%2F..%2Fsite%2Fsmall.txt' }), undefined);
  assert.equal((await fileMatch(`file {\nroot ${root}\ntry_files {query.f}\n}`, { url: '/?f=dir%2F..%2Fsmall.txt' }))?.get('relative'), '/small.txt');
  assert.equal(await fileMatch(`file {\nroot ${root}\n}`, { url: '/%2e%2e/secret.txt' }), undefined);
});

test('file: try_policy picks by size or age among existing candidates', async () => {
  const files = 'try_files /small.txt /big.txt /empty.txt /missing.txt';
  const pick = async (policy: string): Promise<string | undefined> =>
    (await fileMatch(`file {\nroot ${root}\n${files}\ntry_policy ${policy}\n}`, {}))?.get('relative');
  assert.equal(await pick('first_exist'), '/small.txt');
  assert.equal(await pick('largest_size'), '/big.txt');
  assert.equal(await pick('smallest_size'), '/empty.txt');
  // Caddy's smallest_size treats size 0 as "none yet": a file after an empty one replaces it.
  assert.equal(
    (await fileMatch(`file {\nroot ${root}\ntry_files /empty.txt /big.txt\ntry_policy smallest_size\n}`, {}))?.get('relative'),
    '/big.txt',
  );
  // largest_size starts from 0: an empty file is never picked.
  assert.equal(await fileMatch(`file {\nroot ${root}\ntry_files /empty.txt\ntry_policy largest_size\n}`, {}), undefined);
  assert.equal(await pick('most_recently_modified'), '/small.txt');
});

test('file: split_path splits at a delimiter that ends a segment and keeps the remainder', async () => {
  const hit = await fileMatch(`file {\nroot ${root}\nsplit_path .php\n}`, { url: '/a.php/extra/path' });
  assert.equal(hit?.get('relative'), '/a.php');
  assert.equal(hit?.get('remainder'), '/extra/path');
  assert.equal(await fileMatch(`file {\nroot ${root}\nsplit_path .php\n}`, { url: '/a.phpx/y' }), undefined);
  const upper = await fileMatch(`file {\nroot ${root}\nsplit_path .PHP\n}`, { url: '/a.php/x' });
  assert.equal(upper?.get('remainder'), '/x');
});
