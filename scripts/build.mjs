#!/usr/bin/env node
/**
 * Builds my-server for production. Usage: node scripts/build.mjs [tsc] [bundle] [sea]
 * (no target: tsc and bundle). Run from anywhere; paths are relative to the repository root.
 *
 *   tsc     type-checks and compiles src/ to dist/src/ (the npm package's bin, the Docker image),
 *           and whatever else tsconfig.json includes; those dist/ folders are emptied first so no
 *           file of a deleted source lingers.
 *   bundle  one ES module, dist/my-server.mjs, holding my-server and all its dependencies:
 *           `node my-server.mjs run` works with no node_modules beside it.
 *   sea     dist/my-server, a single executable (Node.js SEA) for this machine's OS and CPU: a copy
 *           of the running node binary with the bundle injected by postject (a devDependency).
 *           Builds the bundle first. Linux only.
 */
import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const DIST = join(ROOT, 'dist');
const BUNDLE = join(DIST, 'my-server.mjs');
const SEA = join(DIST, 'my-server');
const require = createRequire(join(ROOT, 'package.json'));

/**
 * Runs first in the bundle. Bundled CommonJS dependencies call `require` for Node's built-in
 * modules (pino, redis), which an ES module lacks; esbuild's shim uses this one. The version check
 * turns "x is not a function" deep in a certificate operation on an old Node into one clear line.
 */
function banner(minMajor, engines) {
  return [
    "import { createRequire as __myServerCreateRequire } from 'node:module';",
    'const require = __myServerCreateRequire(import.meta.url);',
    `if (Number(process.versions.node.split('.')[0]) < ${minMajor}) {`,
    `  process.stderr.write('my-server needs Node.js ${engines}; this is ' + process.version + '\\n');`,
    '  process.exit(1);',
    '}',
  ].join('\n');
}

async function buildTsc() {
  const tsconfig = JSON.parse(await readFile(join(ROOT, 'tsconfig.json'), 'utf8'));
  for (const dir of tsconfig.include ?? []) await rm(join(DIST, dir), { recursive: true, force: true });
  // The running node, not whatever `node` is first on PATH (Debian's may be too old for tsc 5.9's
  // output to run, and npm's PATH is not there when this script is called directly).
  const tsc = require.resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`tsc failed (exit ${result.status ?? result.signal})`);
  console.log(`build: tsc → ${relative(ROOT, join(DIST, 'src'))}/`);
}

async function buildBundle() {
  const esbuild = await import('esbuild');
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  const engines = pkg.engines?.node ?? '>=22';
  // The lowest major the engines range admits; the bundle is compiled for it (target below).
  const minMajor = Math.min(...[...engines.matchAll(/>=\s*(\d+)/g)].map((m) => Number(m[1])));
  // The versions `my-server version` reports: those installed now, which are the ones bundled.
  const { installedDependencies } = await import('../src/cli/build-info.ts');
  const dependencies = installedDependencies(ROOT);
  const missing = Object.keys(dependencies).filter((name) => dependencies[name] === undefined);
  if (missing.length > 0) throw new Error(`dependencies not installed: ${missing.join(', ')} (npm ci)`);
  await mkdir(DIST, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [join(ROOT, 'src', 'main.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${minMajor}`,
    // src/x509/peculiar.ts imports reflect-metadata before @peculiar/x509: esbuild keeps ES module
    // evaluation order, so the polyfill still runs first. No splitting: one file.
    splitting: false,
    banner: { js: banner(minMajor, engines) },
    // No package.json or node_modules travel with the bundle; src/cli/version.ts reads these instead.
    define: { MY_SERVER_VERSION: JSON.stringify(pkg.version), MY_SERVER_DEPENDENCIES: JSON.stringify(dependencies) },
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  });
  if (result.errors.length > 0 || result.warnings.length > 0) throw new Error('esbuild reported problems (above)');
  const { size } = await stat(BUNDLE);
  console.log(`build: bundle → ${relative(ROOT, BUNDLE)} (${(size / 1024 / 1024).toFixed(2)} MiB)`);
}

/**
 * The SEA's main script. Node 24 runs an injected main script as CommonJS only, and my-server is an
 * ES module with top-level await, so the script hands the bundle (an SEA asset) to the ESM loader
 * through in-thread module hooks. The module gets a file: URL inside the executable's path, which
 * stack traces show and `createRequire` accepts; nothing is written to disk.
 */
const SEA_MAIN = `'use strict';
const { registerHooks } = require('node:module');
const { getAsset } = require('node:sea');
const { pathToFileURL } = require('node:url');
const url = pathToFileURL(process.execPath + '/my-server.mjs').href;
registerHooks({
  resolve: (specifier, context, next) => (specifier === url ? { url, format: 'module', shortCircuit: true } : next(specifier, context)),
  load: (u, context, next) => (u === url ? { format: 'module', source: getAsset('my-server.mjs', 'utf8'), shortCircuit: true } : next(u, context)),
});
import(url).catch((err) => {
  process.stderr.write('my-server: ' + String((err && err.stack) || err) + '\\n');
  process.exitCode = 1;
});
`;

/** Marks the blob as present; the string is Node's (src/node_sea.cc, docs "Single executable applications"). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

async function buildSea() {
  if (process.platform !== 'linux') throw new Error(`sea: only Linux is supported here (this is ${process.platform}); macOS and Windows also need code signing`);
  let postject;
  try {
    postject = require('postject');
  } catch (err) {
    throw new Error('sea: postject is not installed (npm install --save-dev postject@1.0.0-alpha.6)', { cause: err });
  }
  const work = await mkdtemp(join(tmpdir(), 'my-server-sea-'));
  try {
    await writeFile(join(work, 'sea-main.cjs'), SEA_MAIN);
    const config = {
      main: join(work, 'sea-main.cjs'),
      output: join(work, 'sea-prep.blob'),
      disableExperimentalSEAWarning: true,
      // The node flags of the Dockerfile and the systemd unit (docs/design.md "Memory").
      execArgv: ['--max-semi-space-size=8'],
      assets: { 'my-server.mjs': BUNDLE },
    };
    await writeFile(join(work, 'sea-config.json'), JSON.stringify(config));
    // The blob must come from the same Node.js binary it is injected into.
    const made = spawnSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { cwd: work, encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`sea: generating the blob failed: ${made.stderr}`);
    await rm(SEA, { force: true });
    await copyFile(process.execPath, SEA);
    await chmod(SEA, 0o755);
    await postject.inject(SEA, 'NODE_SEA_BLOB', await readFile(config.output), { sentinelFuse: SEA_FUSE });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const { size } = await stat(SEA);
  console.log(`build: sea → ${relative(ROOT, SEA)} (${(size / 1024 / 1024).toFixed(1)} MiB, Node.js ${process.version} ${process.platform}-${process.arch})`);
}

const TARGETS = { tsc: buildTsc, bundle: buildBundle, sea: buildSea };

async function build(args) {
  for (const arg of args) {
    if (!(arg in TARGETS)) throw new Error(`unknown target "${arg}" (use: ${Object.keys(TARGETS).join(', ')})`);
  }
  const wanted = new Set(args.length > 0 ? args : ['tsc', 'bundle']);
  if (wanted.has('sea')) wanted.add('bundle');
  for (const name of Object.keys(TARGETS)) {
    if (wanted.has(name)) await TARGETS[name]();
  }
}

try {
  await build(process.argv.slice(2));
} catch (err) {
  console.error(`build: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
