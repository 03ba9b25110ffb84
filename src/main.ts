#!/usr/bin/env node
/**
 * my-server's command line: arguments → command. Exit codes follow SPEC.md: 0 success, 1 failure
 * (with a message naming what failed and why), 2 usage error.
 */
// First: refuses an old Node.js before any other module evaluates (see the module).
import './cli/node-check.ts';
// Second: `run` re-executes itself with the V8 flags it needs before anything allocates (see the module).
import './cli/node-flags.ts';
import { describeError, MyServerError } from './errors.ts';
import { ConfigError } from './config/errors.ts';
import { USAGE, usageError } from './cli/usage.ts';

type Command = (args: string[]) => Promise<number>;

async function loadCommand(name: string): Promise<Command | undefined> {
  // Loaded lazily so `my-server version` does not pay for the ACME and proxy modules.
  switch (name) {
    case 'version':
      return (await import('./cli/version.ts')).versionCommand;
    case 'validate':
      return (await import('./cli/config-commands.ts')).validateCommand;
    case 'fmt':
      return (await import('./cli/config-commands.ts')).fmtCommand;
    case 'certs':
      return (await import('./cli/certs.ts')).certsCommand;
    case 'run':
      return (await import('./cli/run.ts')).runCommand;
    case 'reload':
      return (await import('./cli/reload.ts')).reloadCommand;
    case 'trust':
      return (await import('./cli/trust.ts')).trustCommand;
    case 'untrust':
      return (await import('./cli/trust.ts')).untrustCommand;
    case 'reverse-proxy':
      return (await import('./cli/reverse-proxy.ts')).reverseProxyCommand;
    case 'file-server':
      return (await import('./cli/file-server.ts')).fileServerCommand;
    case 'health':
      return (await import('./cli/health.ts')).healthCommand;
    case 'hash-password':
      return (await import('./cli/hash-password.ts')).hashPasswordCommand;
    default:
      return undefined;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') return main(['version']);
  try {
    const command = await loadCommand(name);
    if (!command) throw usageError(`unknown command "${name}"`);
    return await command(rest);
  } catch (err) {
    if (err instanceof MyServerError && err.code === 'MS_ERR_USAGE') {
      process.stderr.write(`my-server: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      // FILE:LINE:COL lines, as `validate` promises.
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    process.stderr.write(`my-server ${name}: ${describeError(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// run keeps the process alive by its own servers and sets the code when it stops.
if (code >= 0) process.exitCode = code;
