import { resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { hostToken, parseHostPort, portOption, serveGenerated, token } from './one-liner.ts';
import { parse, usageError } from './usage.ts';

const HELP = `Usage: my-server file-server [--root DIR] [--listen ADDR] [--domain NAME] [--browse]
         [--access-log] [--debug] [--http-port PORT]

A static file server without a Proxyfile, as \`caddy file-server\`. It writes the Proxyfile these
flags mean, prints it, and serves it as \`my-server run\` does (no admin API; SIGTERM stops it).

  -r, --root DIR        the folder to serve (default: the current directory)
  -l, --listen ADDR     [host]:port to listen on (default :80, or :443 with --domain); a host
                        binds that address only (default_bind)
  -d, --domain NAME     serve NAME only, over HTTPS with a certificate for it (its DNS must point
                        here for a public CA)
  -b, --browse          list folders that have no index file
  -a, --access-log      log each request
  -v, --debug           debug logging
      --http-port PORT  the HTTP port for redirects and HTTP-01 challenges with --domain
                        (default 80; my-server's addition)
`;

/** The Proxyfile `caddy file-server` builds from the same flags (Caddy's fileserver/command.go). */
export function fileServerConfig(values: Record<string, string | boolean | string[] | undefined>, cwd = process.cwd()): string {
  const domain = typeof values['domain'] === 'string' ? values['domain'] : undefined;
  if (domain !== undefined && !/^[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9])?$|^[0-9a-fA-F:.]+$/.test(domain)) throw usageError(`--domain ${JSON.stringify(domain)}: not a host name or IP address`);
  const listen = parseHostPort('--listen', typeof values['listen'] === 'string' ? values['listen'] : domain === undefined ? ':80' : ':443');
  if (listen.scheme !== undefined) throw usageError(`--listen ${JSON.stringify(values['listen'])}: an address is [host]:port, without a scheme`);
  if (listen.port === undefined) throw usageError(`--listen ${JSON.stringify(values['listen'])}: needs a :port`);
  const root = resolve(cwd, typeof values['root'] === 'string' ? values['root'] : '.');
  const httpPort = portOption('--http-port', typeof values['http-port'] === 'string' ? values['http-port'] : undefined);

  const globals = ['admin off'];
  if (listen.host !== '') globals.push(`default_bind ${hostToken(listen.host)}`);
  if (httpPort !== undefined) globals.push(`http_port ${httpPort}`);
  if (values['debug'] === true) globals.push('debug');
  // No domain: plain HTTP on the port for any Host (Caddy's server without a host matcher and
  // without automatic HTTPS). A domain: the Proxyfile's rule decides (HTTPS unless on http_port).
  const address = domain === undefined ? `http://:${listen.port}` : `${hostToken(domain)}:${listen.port}`;
  const site = [`root * ${token('--root', root)}`];
  if (values['access-log'] === true) site.push('log');
  site.push(values['browse'] === true ? 'file_server browse' : 'file_server');
  return `{\n${globals.map((g) => `\t${g}\n`).join('')}}\n\n${address} {\n${site.map((l) => `\t${l}\n`).join('')}}\n`;
}

export async function fileServerCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      root: { type: 'string', short: 'r' },
      listen: { type: 'string', short: 'l' },
      domain: { type: 'string', short: 'd' },
      browse: { type: 'boolean', short: 'b' },
      'access-log': { type: 'boolean', short: 'a' },
      debug: { type: 'boolean', short: 'v' },
      'http-port': { type: 'string' },
    },
    false,
  );
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const config = fileServerConfig(values);
  const root = resolve(typeof values['root'] === 'string' ? values['root'] : '.');
  // A typo in --root would otherwise serve 404s for everything, silently.
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw usageError(`--root ${JSON.stringify(root)}: not a folder`);
  return serveGenerated('file-server', config);
}
