import { readFile } from 'node:fs/promises';
import { loadConfig } from '../config/index.ts';
import { MyServerError } from '../errors.ts';
import { adminRequest, adminTarget } from './admin-client.ts';
import { printWarnings } from './config-commands.ts';
import { configPath, parse } from './usage.ts';

const HELP = `Usage: my-server reload [--config FILE] [--address ADMIN] [--pid PID]

Makes the instance whose admin API listens at ADMIN (default: the config's \`admin\`, else
localhost:2019) load FILE, and waits until it has: exit 0 when the new config serves, 1 when it was
rejected (the running config keeps serving). FILE is checked here first.

With \`admin off\` in FILE (and no --address) there is no API to ask: the instance PID (default:
$MAINPID, which systemd sets for ExecReload=) is sent SIGHUP to read its file again, and the
outcome cannot be confirmed: the instance's log says whether the new config was applied.
`;

export async function reloadCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, address: { type: 'string' }, pid: { type: 'string' } }, false);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = configPath(values);
  // Checked here first, so the errors carry this file's name and position.
  const config = await loadConfig(file);
  printWarnings(config);
  const text = await readFile(file, 'utf8');
  if (config.globals.admin === false && typeof values['address'] !== 'string') return signalReload(file, values['pid']);
  const address = typeof values['address'] === 'string' ? values['address'] : config.globals.admin === false ? 'localhost:2019' : config.globals.admin.address;
  const target = adminTarget(address);
  let answer;
  try {
    // Long: the instance answers once the new config serves (certificates may be obtained first).
    answer = await adminRequest(target, { method: 'POST', path: '/load', body: text, contentType: 'text/caddyfile', timeoutMs: 60_000 });
  } catch (err) {
    throw new MyServerError('MS_ERR_CONFIG', `reaching the admin API at ${address}`, { cause: err });
  }
  const { status, body } = answer;
  if (status === 200) return 0;
  process.stderr.write(`my-server reload: rejected by ${address} (${status}): ${body.trim()}\n`);
  return 1;
}

/**
 * `admin off`: SIGHUP makes the instance read its config file again (src/cli/run.ts), but nothing
 * reports back, so success here means only "signal delivered". FILE was validated above, which
 * catches most rejections; the remaining ones (a port in use, an unreadable certificate) show only
 * in the instance's log.
 */
function signalReload(file: string, pidOption: string | boolean | string[] | undefined): number {
  const given = typeof pidOption === 'string' ? pidOption : process.env['MAINPID'];
  if (given === undefined || given === '') {
    throw new MyServerError('MS_ERR_USAGE', `${file} has "admin off", so there is no admin API to load it: give --pid PID of the running instance (systemd sets $MAINPID), or --address of its admin API`);
  }
  const pid = Number(given);
  if (!/^\d+$/.test(given) || !Number.isSafeInteger(pid) || pid <= 1) {
    throw new MyServerError('MS_ERR_USAGE', `--pid ${JSON.stringify(given)} is not a process id`);
  }
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    throw new MyServerError('MS_ERR_CONFIG', `sending SIGHUP to process ${pid}`, { cause: err });
  }
  process.stderr.write(`my-server reload: ${file} has "admin off": sent SIGHUP to process ${pid}; cannot confirm the new config was applied (see that process's log)\n`);
  return 0;
}
