import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { once } from 'node:events';
import { freePort } from './ports.ts';

const READY_TIMEOUT_MS = 10_000;
/** A port checked free can be taken before redis-server binds it (see ports.ts): retry. */
const START_ATTEMPTS = 3;
/** What redis-server prints once it listens (6.x: "…connections", 7.x: "…connections tcp"). */
const READY_LINE = /Ready to accept connections/;

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** Kills the server and removes its working folder. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * The redis-server found on PATH, as the shell would find it (Debian puts it in /usr/bin, Homebrew
 * and source builds elsewhere). Rejects naming PATH and the package when there is none.
 */
export async function findRedisServer(path = process.env['PATH'] ?? ''): Promise<string> {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder (or not executable): the next one.
    }
  }
  throw new Error(`redis-server not found on PATH (${path}); install it with scripts/install-test-deps.sh (Debian package redis-server)`);
}

/**
 * Starts a throwaway redis-server on 127.0.0.1 with persistence off and resolves once it says it
 * accepts connections and answers PING. The caller must call stop(), typically from an `after` hook.
 */
export async function startRedis(): Promise<RedisServer> {
  const binary = await findRedisServer();
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'my-server-redis-'));
    const port = await freePort();
    const child = spawn(
      binary,
      ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const stop = async (): Promise<void> => {
      await kill(child);
      await rm(dir, { recursive: true, force: true });
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
        child.once('error', (err) => (clearTimeout(timer), reject(err)));
        child.once('exit', (code, signal) => (clearTimeout(timer), reject(new Error(`redis-server exited (code ${code}, signal ${signal})`))));
      });
      // The line says it listens; a PING proves it is this server on that port that answers.
      if (!(await ping(port))) throw new Error('no PONG after the ready line');
      return { url: `redis://127.0.0.1:${port}`, port, stop };
    } catch (err) {
      lastError = new Error(`starting ${binary} on port ${port}: ${output.trim()}`, { cause: err });
      await stop();
    }
  }
  throw lastError;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
