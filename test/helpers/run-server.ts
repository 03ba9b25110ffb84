import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN } from './cli.ts';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';

/** What a Proxyfile template needs to know about the instance it configures. */
export interface ServerEnv {
  /** The temp dir holding the Proxyfile; removed by close(). */
  readonly dir: string;
  /** A free loopback port for `admin 127.0.0.1:<adminPort>`; the template must use it. */
  readonly adminPort: number;
  /** `<dir>/data`, for `storage file <storage>`. */
  readonly storage: string;
}

/** The settings of globalOptions(); optional ones left undefined are not written. */
export interface GlobalOptions {
  readonly http: number;
  readonly https: number;
  /** `default_bind 127.0.0.1`: every site listener on loopback only. */
  readonly loopback?: boolean;
  /** `grace_period VALUE`, e.g. '2s'. */
  readonly gracePeriod?: string;
}

/**
 * The global options block for an instance started by startServer(): its ports, the admin address
 * and storage from `env`, then `extra`: whole lines, each ending in "\n" (e.g. "\tlocal_certs\n").
 */
export function globalOptions(env: ServerEnv, o: GlobalOptions, extra = ''): string {
  return `{
	http_port ${o.http}
	https_port ${o.https}
${o.loopback === true ? '\tdefault_bind 127.0.0.1\n' : ''}	admin 127.0.0.1:${env.adminPort}
	storage file ${env.storage}
${o.gracePeriod === undefined ? '' : `\tgrace_period ${o.gracePeriod}\n`}${extra}}
`;
}

export interface StartServerOptions {
  /** Extra `run` arguments, e.g. ['--watch']. */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** How long start may take until GET /health answers 200; default 60 s (Node compiles every module at start). */
  readonly readyTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A `my-server run` child process serving a Proxyfile in its own temp dir. Output is captured as it
 * comes. close() always leaves nothing behind: the process killed if still running, the dir removed.
 */
export interface RunningServer extends ServerEnv {
  /** The Proxyfile path. */
  readonly file: string;
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<adminPort>`. */
  readonly adminUrl: string;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved as they arrived; its length marks "from here on" for waitForOutput. */
  output(): string;
  /** Replaces the Proxyfile the way editors do: write a temp file next to it, then rename over it. */
  rewrite(text: string): Promise<void>;
  /**
   * Resolves with output() once `pattern` matches output() from offset `from` on (default 0, the
   * whole output; pass `output().length` taken earlier to wait for a new line). Checked as each
   * chunk arrives, no polling; rejects after timeoutMs or when the process exits first.
   */
  waitForOutput(pattern: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit status; SIGKILLs after timeoutMs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
  /**
   * Resolves with the exit status without sending anything (after a signal the test sent itself);
   * SIGKILLs after timeoutMs. A second SIGTERM is not the same as waiting: it may cut the drain short.
   */
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  /** Kills the process if it still runs and removes the temp dir. Idempotent. */
  close(): Promise<void>;
}

/**
 * Writes `render(env)` to `<tmp>/Proxyfile`, spawns `node src/main.ts run --config <file>` and
 * resolves once the admin API's /health answers. On any failure to start, the process is killed,
 * the dir removed, and the error carries the process's output.
 */
export async function startServer(render: (env: ServerEnv) => string, options: StartServerOptions = {}): Promise<RunningServer> {
  // A port checked free can still be taken before the child binds it (see ports.ts); a start that
  // failed on EADDRINUSE is tried again with a fresh admin port, a bounded number of times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(render, options);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !/EADDRINUSE/.test(err.message)) throw err;
    }
  }
}

async function startOnce(render: (env: ServerEnv) => string, options: StartServerOptions): Promise<RunningServer> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-run-'));
  const file = join(dir, 'Proxyfile');
  const adminPort = await freePort();
  const env: ServerEnv = { dir, adminPort, storage: join(dir, 'data') };
  let server: RunningServer | undefined;
  try {
    await writeFile(file, render(env));
    server = spawnServer(env, file, options);
    await waitReady(server, options.readyTimeoutMs ?? 60_000, options.signal);
    return server;
  } catch (err) {
    const output = server === undefined ? '' : `\nstdout:\n${server.stdout()}\nstderr:\n${server.stderr()}`;
    if (server !== undefined) await server.close();
    else await rm(dir, { recursive: true, force: true });
    throw new Error(`starting my-server run: ${(err as Error).message}${output}`, { cause: err });
  }
}

function spawnServer(env: ServerEnv, file: string, options: StartServerOptions): RunningServer {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, MY_SERVER_LOG_LEVEL: 'info', ...options.env };
  // The outer environment must not redirect this instance's config or storage.
  if (options.env?.['MY_SERVER_STORAGE'] === undefined) delete childEnv['MY_SERVER_STORAGE'];
  delete childEnv['MY_SERVER_CONFIG'];
  const child = spawn(process.execPath, [MAIN, 'run', '--config', file, ...(options.args ?? [])], {
    cwd: env.dir,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let both = '';
  // waitForOutput's checks, run on every chunk and at exit.
  const watchers = new Set<() => void>();
  const arrived = (): void => {
    for (const check of [...watchers]) check();
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    both += d;
    arrived();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    both += d;
    arrived();
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', () => resolve({ code: null, signal: null }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let running = true;
  void exited.then(() => {
    running = false;
    arrived();
  });
  let removed = false;

  const waitForExit = async (timeoutMs = 20_000): Promise<ExitStatus> => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  const stop = (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<ExitStatus> => {
    if (running) child.kill(signal);
    return waitForExit(timeoutMs);
  };

  return {
    ...env,
    file,
    child,
    adminUrl: `http://127.0.0.1:${env.adminPort}`,
    exited,
    stdout: () => out,
    stderr: () => err,
    rewrite: async (text) => {
      const tmp = join(env.dir, `.Proxyfile.${process.pid}.${Date.now()}.tmp`);
      await writeFile(tmp, text);
      await rename(tmp, file);
    },
    output: () => both,
    waitForOutput: (pattern, timeoutMs = 10_000, from = 0) =>
      new Promise<string>((resolve, reject) => {
        // Without g/y: test() is then stateless, so each check looks at the whole text again.
        const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`my-server did not print ${String(pattern)} within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        function check(): void {
          let settled = true;
          if (re.test(both.slice(from))) resolve(both);
          else if (!running) reject(new Error(`my-server exited before printing ${String(pattern)}\nstdout:\n${out}\nstderr:\n${err}`));
          else settled = false;
          if (settled) {
            clearTimeout(timer);
            watchers.delete(check);
          }
        }
        watchers.add(check);
        check();
      }),
    stop,
    waitForExit,
    close: async () => {
      if (running) await stop('SIGKILL', 5_000);
      if (!removed) {
        removed = true;
        await rm(env.dir, { recursive: true, force: true });
      }
    },
  };
}

async function waitReady(server: RunningServer, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  // An exit ends the wait at once: polling a dead process until the deadline only hides the cause.
  const died = new AbortController();
  void server.exited.then((s) => died.abort(new Error(`the process exited (code ${s.code}, signal ${s.signal}) before serving`)));
  // 100 ms: startup takes a few hundred ms; faster polling only takes CPU from the server.
  await eventually(`admin /health answering 200`, timeoutMs, async () => ((await healthStatus(server.adminPort)) === 200 ? true : undefined), 100,
    signal ? AbortSignal.any([died.signal, signal]) : died.signal);
}

/** GET /health on the admin port: its status, or 0 when nothing answers. */
export function healthStatus(adminPort: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/health', agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}
