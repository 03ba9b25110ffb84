import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { loadConfig } from '../config/index.ts';
import { MyServerError } from '../errors.ts';
import { printWarnings } from './config-commands.ts';
import { configPath, parse } from './usage.ts';

const HELP = `Usage: my-server reload [--config FILE] [--address ADMIN]

Makes the instance whose admin API listens at ADMIN (default: the config's \`admin\`, else
localhost:2019) load FILE. An invalid FILE is rejected and the running config keeps serving.
`;

export async function reloadCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, address: { type: 'string' } }, false);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = configPath(values);
  // Checked here first, so the errors carry this file's name and position.
  const config = await loadConfig(file);
  printWarnings(config);
  const text = await readFile(file, 'utf8');
  const address = typeof values['address'] === 'string' ? values['address'] : config.globals.admin === false ? 'localhost:2019' : config.globals.admin.address;
  const { status, body } = await post(address, text);
  if (status === 200) return 0;
  process.stderr.write(`my-server reload: rejected by ${address} (${status}): ${body.trim()}\n`);
  return 1;
}

function post(address: string, body: string): Promise<{ status: number; body: string }> {
  const target = address.startsWith('unix/')
    ? { socketPath: address.slice('unix/'.length) }
    : (() => {
        const u = new URL(`http://${address.startsWith(':') ? `localhost${address}` : address}`);
        return { hostname: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 2019) };
      })();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { ...target, method: 'POST', path: '/load', headers: { 'content-type': 'text/caddyfile', host: 'localhost' }, timeout: 60_000 },
      (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', (err) => reject(new MyServerError('MS_ERR_CONFIG', `reaching the admin API at ${address}`, { cause: err })));
    req.end(body);
  });
}
