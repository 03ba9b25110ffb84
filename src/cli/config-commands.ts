import { readFile, writeFile, rename } from 'node:fs/promises';
import { formatConfig, loadConfig, type Config } from '../config/index.ts';
import { configPath, parse } from './usage.ts';

export async function validateCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, strict: { type: 'boolean' } }, false);
  if (values['help']) {
    process.stdout.write('Usage: my-server validate [--config FILE] [--strict]\n\nParses and checks FILE (default ./Proxyfile or $MY_SERVER_CONFIG).\nExits 0 when it is valid, printing only warnings (FILE:LINE:COL: warning: message);\nprints FILE:LINE:COL: message and exits 1 otherwise.\n--strict: a warning (an unknown placeholder, say) fails it too, with exit 1.\n');
    return 0;
  }
  // Warnings do not make the file invalid (Caddy runs such a file, the placeholder left empty):
  // stderr and exit 0, unless --strict asks CI to treat them as errors.
  const config = await loadConfig(configPath(values));
  printWarnings(config);
  return values['strict'] === true && (config.warnings?.length ?? 0) > 0 ? 1 : 0;
}

/** A loaded config's warnings on stderr, one `FILE:LINE:COL: warning: message` line each. */
export function printWarnings(config: Config): void {
  for (const w of config.warnings ?? []) process.stderr.write(`${w.file}:${w.line}:${w.col}: warning: ${w.message}\n`);
}

export async function fmtCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, overwrite: { type: 'boolean' } }, false);
  if (values['help']) {
    process.stdout.write('Usage: my-server fmt [--config FILE] [--overwrite]\n\nPrints FILE canonically formatted, or rewrites it in place with --overwrite.\n');
    return 0;
  }
  const file = configPath(values);
  const text = await readFile(file, 'utf8');
  const formatted = formatConfig(text, { filename: file });
  if (values['overwrite']) {
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, formatted);
    await rename(tmp, file);
  } else {
    process.stdout.write(formatted);
  }
  return 0;
}
