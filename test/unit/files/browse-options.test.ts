/**
 * file_server browse: the listing's order, modes and links as Caddy 2.6.2 gives them (checked by
 * hand with the binary on the same tree: folders first, names compared in lower case, Go's
 * FileMode numbers, a link listed with its target's size and folder mark), and the browse block
 * of Caddy 2.8 (sort, file_limit, reveal_symlinks; 2.6.2 takes no block), each option checked.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../src/config/index.ts';
import { goFileMode } from '../../../src/files/browse.ts';
import { withSites } from '../routes/serve.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'ms-browse-'));

before(() => {
  mkdirSync(path.join(root, 'Zdir'));
  mkdirSync(path.join(root, 'adir'));
  writeFileSync(path.join(root, 'B.txt'), '1\n');
  writeFileSync(path.join(root, 'a.txt'), '22222\n');
  writeFileSync(path.join(root, 'c<x>.txt'), '333');
  symlinkSync(path.join(root, 'a.txt'), path.join(root, 'link'));
  symlinkSync(path.join(root, 'adir'), path.join(root, 'dlink'));
});

after(() => rmSync(root, { recursive: true, force: true }));

interface Item {
  name: string;
  size: number;
  mode: number;
  is_dir: boolean;
  is_symlink: boolean;
  symlink_path?: string;
}

async function listing(block: string, fn: (list: () => Promise<Item[]>, html: () => Promise<string>) => Promise<void>): Promise<void> {
  await withSites(`http://site.test:8080 {\n\troot * ${root}\n\tfile_server {\n\t\tbrowse ${block}\n\t}\n}\n`, (request) =>
    fn(
      async () => JSON.parse((await request('/', 'site.test', { accept: 'application/json' })).body.toString()) as Item[],
      async () => (await request('/')).body.toString(),
    ),
  );
}

test("default listing: Caddy's order, Go file modes, links with their target's size and folder mark", async () => {
  await listing('', async (list) => {
    const items = await list();
    assert.deepEqual(
      items.map((i) => i.name),
      ['adir/', 'dlink/', 'Zdir/', 'a.txt', 'B.txt', 'c<x>.txt', 'link'],
    );
    const by = new Map(items.map((i) => [i.name, i]));
    assert.equal(by.get('adir/')?.mode, 2147484141, 'ModeDir|0755, as Caddy 2.6.2 printed it');
    assert.equal(by.get('a.txt')?.mode, 420);
    assert.deepEqual({ ...by.get('dlink/'), mod_time: undefined, url: undefined }, { name: 'dlink/', size: 4096, mode: 134218239, is_dir: true, is_symlink: true, mod_time: undefined, url: undefined });
    assert.equal(by.get('link')?.size, 6);
    assert.equal(by.get('link')?.is_symlink, true);
    assert.equal(by.get('link')?.symlink_path, undefined, 'targets only with reveal_symlinks');
  });
});

test('sort, file_limit and reveal_symlinks change the listing', async () => {
  await listing('{\n\t\t\tsort size desc\n\t\t}', async (list) => {
    // As Caddy's ?sort=size&order=desc gave it: the largest file first, folders last. The link
    // and a.txt have one size: Go's sort is not stable, so their order is not part of it.
    const names = (await list()).map((i) => i.name);
    assert.deepEqual(names.slice(0, 2).sort(), ['a.txt', 'link']);
    assert.deepEqual(names.slice(2), ['c<x>.txt', 'B.txt', 'Zdir/', 'dlink/', 'adir/']);
  });
  await listing('{\n\t\t\tsort desc name\n\t\t}', async (list) => {
    assert.deepEqual(
      (await list()).map((i) => i.name),
      ['Zdir/', 'link', 'dlink/', 'c<x>.txt', 'B.txt', 'adir/', 'a.txt'],
    );
  });
  await listing('{\n\t\t\tfile_limit 3\n\t\t}', async (list) => {
    assert.equal((await list()).length, 3);
  });
  await listing('{\n\t\t\treveal_symlinks\n\t\t}', async (list, html) => {
    const items = await list();
    assert.equal(items.find((i) => i.name === 'link')?.symlink_path, path.join(root, 'a.txt'));
    assert.equal(items.find((i) => i.name === 'a.txt')?.symlink_path, undefined);
    const page = await html();
    assert.ok(page.includes(`link &rarr; ${path.join(root, 'a.txt')}`), page);
    assert.ok(page.includes('c&lt;x&gt;.txt') && !page.includes('c<x>.txt'), 'names escaped');
  });
});

test('goFileMode: Go type bits over the permission bits', () => {
  assert.equal(goFileMode(0o100644), 0o644);
  assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
  assert.equal(goFileMode(0o120777), 2 ** 27 + 0o777);
  assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755, 'setuid');
  assert.equal(goFileMode(0o041777), 2 ** 31 + 2 ** 20 + 0o777, 'sticky folder');
});

test('browse block errors name the token', async () => {
  const err = (block: string): Promise<unknown> => parseConfig(`http://site.test:8080 {\n\tfile_server {\n\t\tbrowse {\n${block}\n\t\t}\n\t}\n}\n`, { filename: 't' });
  await assert.rejects(err('\t\t\tbogus'), /^.*t:4:4: unknown subdirective "bogus" in file_server browse \(sort, file_limit, reveal_symlinks\)/);
  await assert.rejects(err('\t\t\tsort biggest'), /t:4:9: browse sort: unknown option "biggest" \(usage: sort name\|namedirfirst\|size\|time \[asc\|desc\]\)/);
  await assert.rejects(err('\t\t\tsort'), /t:4:4: .*sort/);
  await assert.rejects(err('\t\t\tsort name asc x'), /t:4:18: sort: unexpected argument "x"/);
  await assert.rejects(err('\t\t\tfile_limit 0'), /t:4:15: invalid file_limit "0": must be 1-/);
  await assert.rejects(err('\t\t\tfile_limit many'), /t:4:15: invalid file_limit "many": not an integer/);
  await assert.rejects(err('\t\t\treveal_symlinks yes'), /t:4:20: reveal_symlinks: unexpected argument "yes"/);
  await assert.rejects(err('\t\t\tfile_limit 5\n\t\t\tfile_limit 6'), /t:5:4: file_limit is already set at t:4:4/);
  await assert.rejects(err('\t\t\treveal_symlinks {\n\t\t\t}'), /t:4:20: .*block/);
  await assert.rejects(
    parseConfig('http://site.test:8080 {\n\tfile_server {\n\t\tbrowse /tpl.html\n\t}\n}\n', { filename: 't' }),
    /t:3:10: file_server browse: templates are Go templates/,
  );
});
