/**
 * `my-server version` from source: my-server's version, Node's version and platform, and the
 * installed version of every runtime dependency (the bundle and the single executable, which
 * embed the list at build time, are checked in test/integration/packaging.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedDependencies } from '../../../src/cli/build-info.ts';
import { runCli } from '../../helpers/cli.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PKG = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };

async function installed(name: string): Promise<string> {
  return (JSON.parse(await readFile(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

test('version lists my-server, Node.js, the platform and each runtime dependency at its installed version', async () => {
  const ran = await runCli(['version']);
  assert.equal(ran.code, 0, ran.stderr);
  const lines = ran.stdout.trimEnd().split('\n');
  assert.equal(lines[0], `my-server ${PKG.version} (Node.js ${process.version}, ${process.platform}-${process.arch}, source)`);
  assert.equal(lines[1], 'dependencies:');
  const expected = await Promise.all(Object.keys(PKG.dependencies).map(async (name) => `  ${name}@${await installed(name)}`));
  assert.deepEqual(lines.slice(2), expected);
  assert.ok(expected.length >= 10, 'the dependency list is read, not empty');
});

test('version --json carries the same facts for scripts', async () => {
  const ran = await runCli(['version', '--json']);
  assert.equal(ran.code, 0, ran.stderr);
  const info = JSON.parse(ran.stdout) as Record<string, unknown>;
  const deps: Record<string, string> = {};
  for (const name of Object.keys(PKG.dependencies)) deps[name] = await installed(name);
  assert.deepEqual(info, { version: PKG.version, node: process.version, platform: process.platform, arch: process.arch, build: 'source', dependencies: deps });
});

test('-v is version, and an unknown option is a usage error', async () => {
  const short = await runCli(['-v']);
  assert.equal(short.code, 0);
  assert.match(short.stdout, new RegExp(`^my-server ${PKG.version.replaceAll('.', '\\.')} \\(`));
  const bad = await runCli(['version', '--frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /frobnicate/);
});

test('installedDependencies resolves as Node does: own node_modules first, then a parent folder (hoisted); a missing one is undefined', async (t) => {
  const top = await mkdtemp(join(tmpdir(), 'my-server-deps-'));
  t.after(() => rm(top, { recursive: true, force: true }));
  const root = join(top, 'node_modules', 'my-server');
  const put = async (dir: string, name: string, version: string): Promise<void> => {
    await mkdir(join(dir, 'node_modules', name), { recursive: true });
    await writeFile(join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
  };
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'my-server', version: '1.0.0', dependencies: { own: '^1', '@scope/hoisted': '^2', absent: '^3' } }));
  await put(root, 'own', '1.4.0');
  await put(top, 'own', '9.9.9');
  await put(top, '@scope/hoisted', '2.1.0');
  assert.deepEqual(installedDependencies(root), { own: '1.4.0', '@scope/hoisted': '2.1.0', absent: undefined });
});
