/**
 * What `my-server version` reports besides its own version: the versions of the runtime
 * dependencies, as `caddy build-info` lists the modules compiled in.
 *
 * Read from the installed packages' package.json files, the ones Node resolves at run time (from
 * src/ and from dist/src/ of the npm package). The bundle and the single executable have no
 * node_modules beside them: scripts/build.mjs calls installedDependencies() at build time and
 * embeds the answer (src/cli/version.ts, MY_SERVER_DEPENDENCIES). This module imports only node:
 * modules, so the build script can load it directly.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly dependencies?: Readonly<Record<string, string>>;
}

function readJson(file: string): PackageJson | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
}

/**
 * `name → installed version` for each entry of `dependencies` in `root`/package.json, in the
 * package.json's order. A package is looked up in `node_modules` of `root` and then of each parent
 * directory, as Node's resolution does (npm hoists a dependency's dependencies up to the top
 * `node_modules` when my-server is itself installed as a dependency). A dependency that cannot be
 * found maps to undefined: the report says so rather than guessing from the declared range.
 */
export function installedDependencies(root: string): Record<string, string | undefined> {
  const pkg = readJson(join(root, 'package.json'));
  const out: Record<string, string | undefined> = {};
  for (const name of Object.keys(pkg?.dependencies ?? {})) {
    out[name] = undefined;
    for (let dir = root; ; dir = dirname(dir)) {
      const found = readJson(join(dir, 'node_modules', name, 'package.json'));
      if (found?.name === name && typeof found.version === 'string') {
        out[name] = found.version;
        break;
      }
      if (dirname(dir) === dir) break;
    }
  }
  return out;
}
