import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MyServerError } from '../../../src/errors.ts';
import { ConfigError, loadConfig, parseConfig } from '../../../src/config/index.ts';

async function errorOf(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

test('every site, address, route and upstream keeps the position it came from', async () => {
  const text = '{\n\temail a@b.c\n}\n\nexample.com, *.example.internal {\n\theader X 1\n\treverse_proxy /api/* h1:80 h2:81\n}\n';
  const config = await parseConfig(text, { filename: 'P', env: {} });
  const site = config.sites[0];
  assert.ok(site);
  assert.deepEqual(site.pos, { file: 'P', line: 5, col: 1 });
  assert.deepEqual(
    site.addresses.map((a) => [a.original, a.pos.line, a.pos.col]),
    [
      ['example.com', 5, 1],
      ['*.example.internal', 5, 14],
    ],
  );
  assert.deepEqual(
    site.routes.map((r) => [r.kind, r.pos.line, r.pos.col]),
    [
      ['header', 6, 2],
      ['reverse_proxy', 7, 2],
    ],
  );
  const proxy = site.routes[1];
  assert.equal(proxy?.kind, 'reverse_proxy');
  if (proxy?.kind === 'reverse_proxy') {
    assert.deepEqual(
      proxy.upstreams.map((u) => [u.port, u.pos?.col]),
      [
        [80, 23],
        [81, 29],
      ],
    );
  }
  assert.deepEqual(config.globals.sources.email, { file: 'P', line: 2, col: 2 });
});

test('a ConfigError is a MyServerError with code, position and one FILE:LINE:COL line per issue', async () => {
  const err = await errorOf(
    parseConfig('a.example {\n\tbogus\n}\nb.example {\n\trespond x 42\n}\n', { filename: 'Proxyfile', env: {} }),
  );
  assert.ok(err instanceof MyServerError);
  assert.equal(err.code, 'MS_ERR_CONFIG');
  assert.deepEqual([err.file, err.line, err.col], ['Proxyfile', 2, 2]);
  assert.equal(err.issues.length, 2);
  assert.deepEqual(err.message.split('\n'), [
    'Proxyfile:2:2: unknown directive "bogus"',
    'Proxyfile:5:12: invalid status code "42": must be 100-999',
  ]);
});

test('the loaded config is deeply frozen', async () => {
  const config = await parseConfig('localhost {\n\treverse_proxy h:1\n}\n', { filename: 'P', env: {} });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.sites[0]?.routes[0]));
  assert.ok(Object.isFrozen(config.globals.log.output));
});

test('imports go through the injected readFile and listFiles, relative to the importing file', async () => {
  const files: Record<string, string> = {
    [path.join('conf', 'sites', 'a.conf')]: 'a.example {\n\timport ../shared/h.conf A\n}\n',
    [path.join('conf', 'sites', 'b.conf')]: 'b.example {\n\timport ../shared/h.conf B\n}\n',
    [path.join('conf', 'shared', 'h.conf')]: 'header X-Site {args[0]}\n',
  };
  const read: string[] = [];
  const config = await parseConfig('import sites/*.conf\n', {
    filename: path.join('conf', 'Proxyfile'),
    env: {},
    readFile: async (file) => {
      read.push(file);
      const text = files[file];
      if (text === undefined) throw Object.assign(new Error(`ENOENT ${file}`), { code: 'ENOENT' });
      return text;
    },
    listFiles: async (dir) => {
      assert.equal(dir, path.join('conf', 'sites'));
      return ['b.conf', 'a.conf', '.hidden.conf', 'notes.txt'];
    },
  });
  assert.deepEqual(
    config.sites.map((s) => [s.addresses[0]?.host, s.routes[0]?.kind === 'header' ? s.routes[0].ops[0]?.value : undefined]),
    [
      ['a.example', 'A'],
      ['b.example', 'B'],
    ],
  );
  assert.deepEqual(read, [
    path.join('conf', 'sites', 'a.conf'),
    path.join('conf', 'sites', 'b.conf'),
    path.join('conf', 'shared', 'h.conf'),
    path.join('conf', 'shared', 'h.conf'),
  ]);
  assert.deepEqual(
    config.files.map((f) => path.relative(process.cwd(), f)),
    [path.join('conf', 'Proxyfile'), path.join('conf', 'sites', 'a.conf'), path.join('conf', 'sites', 'b.conf'), path.join('conf', 'shared', 'h.conf')],
  );
});

test('a snippet must be defined before it is imported; otherwise the name is a file', async () => {
  const err = await errorOf(
    parseConfig('a.example {\n\timport later\n}\n(later) {\n\trespond x\n}\n', {
      filename: 'P',
      env: {},
      readFile: () => Promise.reject(Object.assign(new Error('nope'), { code: 'ENOENT' })),
    }),
  );
  assert.equal(err.message, 'P:2:9: import later: file not found');
});

test('a snippet defined twice is an error at the second definition', async () => {
  const err = await errorOf(parseConfig('(s) {\n}\n(s) {\n}\n', { filename: 'P', env: {} }));
  assert.equal(err.message, 'P:3:1: snippet (s) is already defined');
});

test('an import that expands without end is stopped', async () => {
  // Each level imports the previous one twice: 2^20 copies without a budget.
  const snippets = Array.from({ length: 20 }, (_, i) => `(s${i + 1}) {\n\timport s${i}\n\timport s${i}\n}\n`).join('');
  const err = await errorOf(parseConfig(`(s0) {\n\theader X 1\n}\n${snippets}a.example {\n\timport s20\n}\n`, { filename: 'P', env: {} }));
  assert.match(err.message, /imports expand to too many tokens/);
});

const structure: { name: string; input: string; want: string }[] = [
  { name: 'a closing brace without an open block', input: 'a.example {\n}\n}\n', want: "P:3:1: unexpected '}': no block is open" },
  { name: 'an unclosed nested block', input: 'a.example {\n\thandle {\n\t\trespond x\n}\n', want: "P:1:11: unclosed '{': expected '}' before the end of the file" },
  { name: 'a brace in the middle of a line', input: 'a.example {\n\trespond { x\n}\n', want: "P:2:10: '{' must be the last token on its line" },
  { name: 'an address glued to its brace', input: 'a.example{\n}\n', want: 'P:1:1: site address "a.example{" ends with \'{\': put a space before the brace' },
  { name: 'a stray open brace', input: 'a.example {\n\t{\n\t}\n}\n', want: "P:2:2: unexpected '{'" },
  { name: 'a snippet without a block', input: '(s)\na.example {\n}\n', want: 'P:1:1: snippet (s) must be followed by a block { … }' },
  { name: 'an import without a target', input: 'a.example {\n\timport\n}\n', want: 'P:2:2: import needs a snippet name or a file path' },
];

for (const c of structure) {
  test(`parser: ${c.name} is an error at its position`, async () => {
    const err = await errorOf(parseConfig(c.input, { filename: 'P', env: {} }));
    assert.equal(err.message, c.want);
  });
}

test('loadConfig reads a Proxyfile and its imports from disk and lists them as absolute paths', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'sites'));
  await writeFile(path.join(dir, 'Proxyfile'), '{\n\temail {$MS_T_EMAIL:x@y.z}\n}\nimport sites/*\n');
  await writeFile(path.join(dir, 'sites', 'one'), 'one.example {\n\trespond "1"\n}\n');
  await mkdir(path.join(dir, 'sites', 'subdir'));
  const config = await loadConfig(path.join(dir, 'Proxyfile'), { env: { MS_T_EMAIL: 'ops@example.com' } });
  assert.equal(config.globals.email, 'ops@example.com');
  assert.deepEqual(config.files, [path.join(dir, 'Proxyfile'), path.join(dir, 'sites', 'one')]);
  assert.deepEqual(
    config.sites.map((s) => s.addresses[0]?.host),
    ['one.example'],
  );
});

test('loadConfig of a missing file fails with the file name and the reason', async () => {
  const missing = path.join(os.tmpdir(), 'ms-config-does-not-exist', 'Proxyfile');
  const err = await errorOf(loadConfig(missing));
  assert.equal(err.file, missing);
  assert.match(err.message, new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:1: reading config file: ENOENT`));
});

test('a line-leading {args[:]} that expands to nothing does not join its line to the previous one', async () => {
  const text = '(s) {\n\trespond "first"\n\t{args[:]} header X-A 1\n}\na.example {\n\timport s\n}\n';
  const config = await parseConfig(text, { filename: 'P', env: {} });
  assert.deepEqual(
    config.sites[0]?.routes.map((r) => r.kind),
    ['header', 'respond'],
  );
});
