import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAIN } from './cli.ts';
import { freePort } from './ports.ts';
import type { ExitStatus } from './run-server.ts';

export type { ExitStatus };

/**
 * Runs `my-server run` as a child process (this checkout's source on the running Node), the way a
 * user would: a Proxyfile in a temp dir, readiness by the admin API's `GET /health`, stop by SIGTERM.
 */

/** Where the Proxyfile builder may put things: the server's own temp dir and its admin address. */
export interface ServerPlaces {
  /** A temp dir removed by stop()/kill(): put `storage file ${dir}/data` and the like here. */
  readonly dir: string;
  /** `127.0.0.1:PORT`, free a moment ago: the Proxyfile must say `admin ${admin}`. */
  readonly admin: string;
}

export interface StartServerOptions {
  /** The Proxyfile text, built from the places; it must contain `admin ${admin}`. */
  readonly proxyfile: (places: ServerPlaces) => string;
  /** Extra environment (MY_SERVER_LOG_LEVEL defaults to debug, so failures come with a full log). */
  readonly env?: NodeJS.ProcessEnv;
  /** How long to wait for `/health` to answer 200. Default 15 000 ms. */
  readonly readyTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A serving my-server. stop() and kill() are idempotent and always remove the temp dir. */
export interface RunningServer {
  readonly dir: string;
  readonly configFile: string;
  readonly adminUrl: string;
  readonly pid: number;
  /** Everything the process printed so far (stdout and stderr, interleaved as received). */
  logs(): string;
  /** Resolves when the process has exited, with how. */
  readonly exited: Promise<ExitStatus>;
  /**
   * SIGTERM, then waits for the exit. After `timeoutMs` (default 15 000) the process is SIGKILLed
   * and the promise rejects with the log: a stop that hangs is a failure, not a slow success.
   */
  stop(timeoutMs?: number): Promise<ExitStatus>;
  /** SIGKILL and cleanup, for finally blocks after a failure. */
  kill(): Promise<void>;
}

function healthy(url: string, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, signal }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

/**
 * Writes the Proxyfile, spawns `my-server run --config FILE` and resolves once `GET /health` on the
 * admin address answers 200. Rejects (with the server's log) if the process exits first or is not
 * ready in time; the process is killed and the temp dir removed in that case.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-run-'));
  const admin = `127.0.0.1:${await freePort()}`;
  const configFile = join(dir, 'Proxyfile');
  const text = options.proxyfile({ dir, admin });
  if (!text.includes(`admin ${admin}`)) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`starting my-server: the Proxyfile must say "admin ${admin}" so readiness can be polled`);
  }
  await writeFile(configFile, text);

  const child: ChildProcess = spawn(process.execPath, [MAIN, 'run', '--config', configFile], {
    env: { ...process.env, MY_SERVER_LOG_LEVEL: 'debug', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => output.push(chunk));
  }
  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
    child.once('error', (err) => {
      output.push(`[spawn failed: ${err.message}]\n`);
      if (child.pid === undefined) {
        status = { code: null, signal: null };
        resolve(status);
      }
    });
  });
  const logs = (): string => output.join('');
  // Safety net for a test process that exits without stop(); signals to the test runner are not covered.
  const killNow = (): void => {
    if (status === undefined) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', killNow);
  let finished: Promise<ExitStatus> | undefined;
  const finish = (first: NodeJS.Signals, timeoutMs: number): Promise<ExitStatus> => {
    finished ??= (async () => {
      try {
        if (status !== undefined) return status;
        child.kill(first);
        const timer = new AbortController();
        const result = await Promise.race([exited, sleep(timeoutMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
        timer.abort();
        if (result !== undefined) return result;
        child.kill('SIGKILL');
        await exited;
        throw new Error(`my-server did not exit within ${timeoutMs} ms of ${first}\n--- my-server log ---\n${logs()}`);
      } finally {
        process.off('exit', killNow);
        await rm(dir, { recursive: true, force: true });
      }
    })();
    return finished;
  };
  const kill = async (): Promise<void> => {
    await finish('SIGKILL', 5000).catch(() => undefined);
  };

  const adminUrl = `http://${admin}`;
  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  const deadline = options.signal ? AbortSignal.any([AbortSignal.timeout(timeoutMs), options.signal]) : AbortSignal.timeout(timeoutMs);
  try {
    for (;;) {
      if (status !== undefined) throw new Error(`my-server exited (${JSON.stringify(status)}) before serving`);
      // 1 s per probe: an admin port taken by something that never answers must not stall the loop.
      if (await healthy(`${adminUrl}/health`, AbortSignal.any([deadline, AbortSignal.timeout(1000)]))) break;
      // 50 ms: startup takes a few hundred ms; faster polling only takes CPU from the server.
      await sleep(50, undefined, { signal: deadline });
    }
  } catch (err) {
    await kill();
    const why = deadline.aborted ? `not serving after ${timeoutMs} ms` : err instanceof Error ? err.message : String(err);
    throw new Error(`starting my-server: ${why}\n--- Proxyfile ---\n${text}\n--- my-server log ---\n${logs()}`, { cause: err });
  }

  return {
    dir,
    configFile,
    adminUrl,
    pid: child.pid ?? -1,
    logs,
    exited,
    stop: (stopTimeoutMs = 15_000) => finish('SIGTERM', stopTimeoutMs),
    kill,
  };
}
