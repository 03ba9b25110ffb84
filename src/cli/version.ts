import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedDependencies } from './build-info.ts';
import { parse } from './usage.ts';

/** Set by scripts/build.mjs (esbuild `define`) in the bundle and the SEA, which have no package.json beside them. */
declare const MY_SERVER_VERSION: string | undefined;
/** Likewise: the dependency versions installed when the bundle was built (src/cli/build-info.ts). */
declare const MY_SERVER_DEPENDENCIES: Record<string, string | undefined> | undefined;

/** my-server's own package.json and its folder, from src/ (type stripping) or dist/src/ (built). */
function ownPackage(): { root: string; version: string } | undefined {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const url = new URL(rel, import.meta.url);
      const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'my-server' && pkg.version) return { root: dirname(fileURLToPath(url)), version: pkg.version };
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

export function packageVersion(): string {
  if (typeof MY_SERVER_VERSION === 'string') return MY_SERVER_VERSION;
  return ownPackage()?.version ?? '0.0.0-unknown';
}

/** How this copy of my-server was built, which says where its dependencies come from. */
export type BuildKind = 'source' | 'npm' | 'bundle' | 'single executable';

async function buildKind(): Promise<BuildKind> {
  // node:sea exists from Node 20; isSea() is true only inside a single executable.
  const sea = await import('node:sea').catch(() => undefined);
  if (sea?.isSea()) return 'single executable';
  if (typeof MY_SERVER_VERSION === 'string') return 'bundle';
  return import.meta.url.endsWith('.ts') ? 'source' : 'npm';
}

export interface VersionInfo {
  readonly version: string;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  readonly build: BuildKind;
  /** name → version; undefined where the package is not installed (a broken install). */
  readonly dependencies: Readonly<Record<string, string | undefined>>;
}

export async function versionInfo(): Promise<VersionInfo> {
  const root = ownPackage()?.root;
  const dependencies = typeof MY_SERVER_DEPENDENCIES === 'object' ? MY_SERVER_DEPENDENCIES : root !== undefined ? installedDependencies(root) : {};
  return { version: packageVersion(), node: process.version, platform: process.platform, arch: process.arch, build: await buildKind(), dependencies };
}

const HELP = `Usage: my-server version [--json]

Prints the version of my-server, of Node.js, the platform, how this copy was built (source, npm,
bundle, single executable) and the version of each runtime dependency (as \`caddy build-info\`).
The first line is the short form: my-server VERSION (Node.js VERSION, PLATFORM-ARCH, BUILD).
`;

export async function versionCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' } }, false);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const info = await versionInfo();
  if (values['json']) {
    process.stdout.write(`${JSON.stringify(info, (_k, v: unknown) => (v === undefined ? null : v), 2)}\n`);
    return 0;
  }
  const lines = [`my-server ${info.version} (Node.js ${info.node}, ${info.platform}-${info.arch}, ${info.build})`, 'dependencies:'];
  for (const [name, version] of Object.entries(info.dependencies)) lines.push(`  ${name}@${version ?? '(not installed)'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
