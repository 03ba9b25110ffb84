/**
 * A throwaway php-fpm (Debian package php-fpm: /usr/sbin/php-fpmX.Y) in the foreground with two
 * pools, one on a loopback TCP port and one on a unix socket, no php.ini (`-n`) so the machine's
 * settings do not leak in. Ready when the master logs "ready to handle connections".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';

const READY_TIMEOUT_MS = 15_000;
const START_ATTEMPTS = 3;
const READY_LINE = /ready to handle connections/;

export interface PhpFpm {
  readonly port: number;
  readonly socket: string;
  /** What the master has logged so far. */
  output(): string;
  stop(): Promise<void>;
}

/** The php-fpm binary: Debian installs it versioned under /usr/sbin. */
export async function findPhpFpm(): Promise<string> {
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/usr/bin']) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    const found = names.filter((n) => /^php-fpm[0-9.]*$/.test(n)).sort();
    const last = found.at(-1);
    if (last !== undefined) return path.join(dir, last);
  }
  throw new Error('php-fpm not found in /usr/sbin; install it with scripts/install-test-deps.sh (Debian package php-fpm)');
}

function pool(name: string, listen: string, extra: string): string {
  const asRoot = process.getuid?.() === 0;
  return `
[${name}]
listen = ${listen}
${asRoot ? 'user = root\ngroup = root' : ''}
pm = static
pm.max_children = 3
catch_workers_output = yes
php_admin_value[post_max_size] = 64M
php_admin_value[upload_max_filesize] = 64M
php_admin_value[memory_limit] = 256M
php_admin_value[output_buffering] = 0
php_admin_flag[log_errors] = on
php_admin_flag[display_errors] = off
${extra}
`;
}

export async function startPhpFpm(): Promise<PhpFpm> {
  const binary = await findPhpFpm();
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const prefix = await mkdtemp(path.join(tmpdir(), 'my-server-php-fpm-'));
    const port = await freePort();
    const socket = path.join(prefix, 'php.sock');
    const conf = path.join(prefix, 'php-fpm.conf');
    await writeFile(
      conf,
      `[global]
pid = ${path.join(prefix, 'php-fpm.pid')}
error_log = ${path.join(prefix, 'php-fpm.log')}
log_level = notice
daemonize = no
${pool('tcp', `127.0.0.1:${port}`, '')}
${pool('unix', socket, 'listen.mode = 0666')}
`,
    );
    const args = ['-n', '-F', '-y', conf, '-p', prefix, ...(process.getuid?.() === 0 ? ['-R'] : [])];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const logFile = path.join(prefix, 'php-fpm.log');
    // php-fpm cannot open a pipe as its error_log (ENXIO), so it logs to a file this polls.
    const poll = setInterval(() => {
      readFile(logFile, 'utf8').then(
        (text) => {
          if (text.length > logged) {
            const add = text.slice(logged);
            logged = text.length;
            child.stderr.emit('data', Buffer.from(add));
          }
        },
        () => {},
      );
    }, 50);
    let logged = 0;
    const stop = async (): Promise<void> => {
      clearInterval(poll);
      await kill(child);
      await rm(prefix, { recursive: true, force: true });
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${READY_LINE.source}" within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
        const onData = (chunk: Buffer): void => {
          output += chunk.toString();
          if (READY_LINE.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        // The ready line is a log line: stop polling for it once seen, the log is read on demand after.
        child.once('error', (err) => (clearTimeout(timer), reject(err)));
        child.once('exit', (code, signal) => (clearTimeout(timer), reject(new Error(`php-fpm exited (code ${code}, signal ${signal})`))));
      });
      return { port, socket, output: () => output, stop };
    } catch (err) {
      lastError = new Error(`php-fpm did not start: ${(err as Error).message}\n${output}`);
      await stop();
      // Another process may have taken the port between the check and the bind (ports.ts): retry.
      if (!/Address already in use/.test(output)) break;
    }
  }
  throw lastError;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  // SIGQUIT is php-fpm's graceful stop; SIGKILL if it does not go in time.
  child.kill('SIGQUIT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
