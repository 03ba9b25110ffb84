import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { findRedisServer } from './redis.ts';

const execFileP = promisify(execFile);
const READY_TIMEOUT_MS = 10_000;
const READY_LINE = /Ready to accept connections/;

/**
 * A redis-server the test drives through outages: shut down and started again on the same port,
 * paused with SIGSTOP, given extra settings (requirepass, ACL users, a TLS port). test/helpers/redis.ts
 * starts a plain one; this one keeps its port and its arguments across restarts.
 */
export interface ControlledRedis {
  /** The plain-TCP port (0 when the server listens on TLS only). */
  readonly port: number;
  /** The TLS port when started with `tls`, else 0. */
  readonly tlsPort: number;
  /** The running server's process id. */
  pid(): number;
  /** `redis-cli -p PORT ARGS…` (plain port, after `auth` when given): never rejects. */
  cli(args: readonly string[], auth?: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Starts the server again on the same ports and arguments (after a shutdown); resolves when it is ready. */
  start(): Promise<void>;
  /** Resolves once the running process has exited (after a `shutdown` sent with cli()). */
  exited(): Promise<void>;
  /** Kills the server (SIGCONT first, in case it was stopped) and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

export interface ControlledRedisOptions {
  /** Extra redis-server arguments, e.g. ['--requirepass', 'x']. */
  readonly args?: readonly string[];
  /** Listen on TLS (on tlsPort) with these files; the plain port stays open for the test's redis-cli. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
}

export async function startControlledRedis(options: ControlledRedisOptions = {}): Promise<ControlledRedis> {
  const binary = await findRedisServer();
  const dir = await mkdtemp(join(tmpdir(), 'my-server-redis-ctl-'));
  const port = await freePort();
  const tlsPort = options.tls === undefined ? 0 : await freePort();
  const args = [
    '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir,
    ...(options.tls === undefined
      ? []
      : ['--tls-port', String(tlsPort), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', 'no']),
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    output = '';
    const c = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server: no "${READY_LINE.source}" within ${READY_TIMEOUT_MS} ms:\n${output}`)), READY_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (READY_LINE.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      c.stdout?.on('data', onData);
      c.stderr?.on('data', onData);
      c.once('error', (err) => (clearTimeout(timer), reject(err)));
      c.once('exit', (code, signal) => (clearTimeout(timer), reject(new Error(`redis-server exited (code ${code}, signal ${signal}):\n${output}`))));
    });
  };

  const exited = async (): Promise<void> => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    await once(c, 'exit');
  };

  try {
    await start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    port,
    tlsPort,
    pid: () => {
      if (child?.pid === undefined) throw new Error('redis-server is not running');
      return child.pid;
    },
    cli: async (cliArgs, auth = []) => {
      try {
        const { stdout, stderr } = await execFileP('redis-cli', ['-p', String(port), ...auth, ...cliArgs], { encoding: 'utf8', timeout: 10_000 });
        return { code: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
      }
    },
    start,
    exited,
    stop: async () => {
      const c = child;
      if (c !== undefined && c.exitCode === null && c.signalCode === null) {
        const gone = once(c, 'exit');
        c.kill('SIGCONT');
        c.kill('SIGKILL');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
