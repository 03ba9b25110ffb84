import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MyServerError } from '../errors.ts';

export const USAGE = `Usage: my-server <command> [options]

Commands:
  run [--config FILE] [--watch]            serve in the foreground
  validate [--config FILE] [--strict]      check a Proxyfile (--strict: warnings fail it)
  fmt [--config FILE] [--overwrite]        print the Proxyfile canonically formatted
  reload [--config FILE] [--address ADDR]  make a running instance load FILE (waits; exit 1
         [--pid PID]                       if rejected; admin off: SIGHUP to PID, unconfirmed)
  certs obtain NAME... [--config FILE]     obtain certificates, then exit
  certs list [--config FILE] [--json]      list stored certificates
  certs renew NAME... [--config FILE]      renew now
  certs revoke NAME... [--reason N]        revoke
  certs root [--config FILE]               print the local CA's root certificate
  trust [--config FILE]                    add the local CA's root to the system and NSS trust
                                           stores (untrust: remove it)
  reverse-proxy --to UPSTREAM [--from ADDR] [--internal-certs] [--change-host-header]
         [--insecure]                      proxy without a Proxyfile (as caddy reverse-proxy)
  file-server [--root DIR] [--listen ADDR] [--domain NAME] [--browse]
                                           serve files without a Proxyfile (as caddy file-server)
  health [--config FILE] [--address ADMIN] [--url URL]
                                           exit 0 if the running instance answers (containers)
  hash-password [--algorithm bcrypt|argon2id] [--plaintext P]
                                           print a password hash for basic_auth
  version [--json]                         print versions: my-server, Node.js, dependencies

Run 'my-server <command> --help' for a command's options.
`;

export function usageError(message: string): MyServerError {
  return new MyServerError('MS_ERR_USAGE', message);
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with errors turned into usage errors (exit 2) instead of TypeErrors. */
export function parse<T extends Options>(
  args: string[],
  options: T,
  allowPositionals: boolean,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
    return { values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals };
  } catch (err) {
    throw usageError(err instanceof Error ? err.message : String(err));
  }
}

export function configPath(values: Record<string, unknown>): string {
  const v = values['config'];
  if (typeof v === 'string') return v;
  return process.env['MY_SERVER_CONFIG'] ?? 'Proxyfile';
}
