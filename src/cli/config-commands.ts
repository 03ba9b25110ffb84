import { readFile, writeFile, rename } from 'node:fs/promises';
import { formatConfig, loadConfig } from '../config/index.ts';
import { configPath, parse } from './usage.ts';

export async function validateCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' } }, false);
  if (values['help']) {
    process.stdout.write('Usage: my-server validate [--config FILE]\n\nParses and checks FILE (default ./Proxyfile or $MY_SERVER_CONFIG).\nPrints nothing and exits 0 when it is valid; prints FILE:LINE:COL: message and exits 1 otherwise.\n');
    return 0;
  }
  await loadConfig(configPath(values));
  return 0;
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
