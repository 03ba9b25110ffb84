import { readFileSync } from 'node:fs';
import { parse } from './usage.ts';

/** Set by scripts/build.mjs (esbuild `define`) in the bundle and the SEA, which have no package.json beside them. */
declare const MY_SERVER_VERSION: string | undefined;

export function packageVersion(): string {
  if (typeof MY_SERVER_VERSION === 'string') return MY_SERVER_VERSION;
  // Works from src/ (type stripping) and from dist/src/ (built): walk up to the package.json.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'my-server' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0-unknown';
}

export async function versionCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {}, false);
  if (values['help']) {
    process.stdout.write('Usage: my-server version\n\nPrints the version of my-server and of Node.js.\n');
    return 0;
  }
  process.stdout.write(`my-server ${packageVersion()} (Node.js ${process.version})\n`);
  return 0;
}
