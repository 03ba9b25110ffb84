#!/usr/bin/env node
/**
 * `npm run release`: the release files of this version for this machine's platform, in release/:
 *
 *   my-server-VERSION-PLATFORM-ARCH   the single executable (scripts/build.mjs sea), e.g. my-server-0.1.0-linux-x64
 *   my-server-VERSION.mjs             the one-file bundle, for any platform with Node.js (engines)
 *   SHA256SUMS                        `sha256sum -c SHA256SUMS` checks both
 *
 * VERSION is package.json's. The builds are scripts/build.mjs's (run here as a child, with the
 * running Node.js, whose binary the single executable is a copy of); this script only names,
 * copies and sums. release/ is emptied first, so it never mixes two versions' files. A single
 * executable is built for the machine it runs on: a release for another platform is built there.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const DIST = join(ROOT, 'dist');
const RELEASE = join(ROOT, 'release');

async function sha256(file) {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function release() {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  if (!/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/.test(pkg.version ?? '')) throw new Error(`package.json version ${JSON.stringify(pkg.version)} is not a semver version`);
  // sea builds the bundle first; both land in dist/.
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), 'sea'], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`scripts/build.mjs sea failed (exit ${built.status ?? built.signal})`);

  await rm(RELEASE, { recursive: true, force: true });
  await mkdir(RELEASE, { recursive: true });
  const files = [
    [join(DIST, 'my-server'), `my-server-${pkg.version}-${process.platform}-${process.arch}`, 0o755],
    [join(DIST, 'my-server.mjs'), `my-server-${pkg.version}.mjs`, 0o644],
  ];
  const sums = [];
  for (const [from, name, mode] of files) {
    const to = join(RELEASE, name);
    await copyFile(from, to);
    await chmod(to, mode);
    // sha256sum's own format: the hex digest, two spaces (text mode), the file name.
    sums.push(`${await sha256(to)}  ${name}\n`);
  }
  await writeFile(join(RELEASE, 'SHA256SUMS'), sums.join(''));
  for (const [, name] of files) console.log(`release: ${relative(ROOT, join(RELEASE, name))}`);
  console.log(`release: ${relative(ROOT, join(RELEASE, 'SHA256SUMS'))} (check: cd release && sha256sum -c SHA256SUMS)`);
}

try {
  await release();
} catch (err) {
  console.error(`release: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
