/**
 * Process handling for the benchmark: every server is started in its own process group through a
 * `Processes` instance, which can kill them all (SIGTERM, then SIGKILL) however the run ends;
 * tools run to completion with a deadline; /proc readings give memory and CPU of a process tree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { sleep } from '../src/util/backoff.ts';

export interface StartOptions {
  /** CPU list for `taskset -c`; undefined runs unpinned. */
  readonly cpus?: string | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly cwd?: string;
  /** stdout and stderr are appended here, for the post-mortem of a server that did not start. */
  readonly logFile: string;
}

export interface Started {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

function withTaskset(cpus: string | undefined, command: string, args: readonly string[]): [string, string[]] {
  // taskset execs the command, so the pid we get is the server's own.
  return cpus === undefined ? [command, [...args]] : ['taskset', ['-c', cpus, command, ...args]];
}

function exitPromise(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
}

/** Owns every long-running process of one benchmark run. Not safe to share between runs. */
export class Processes {
  readonly #running = new Map<number, Started>();

  start(name: string, command: string, args: readonly string[], options: StartOptions): Started {
    const [cmd, argv] = withTaskset(options.cpus, command, args);
    const out = openSync(options.logFile, 'a');
    let child: ChildProcess;
    try {
      // detached: its own process group, so stop() also reaches workers it forks (nginx, clusters).
      child = spawn(cmd, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', out, out], detached: true });
    } finally {
      closeSync(out);
    }
    const exited = exitPromise(child);
    const pid = child.pid ?? -1;
    const started: Started = { name, pid, exited };
    if (pid > 0) {
      this.#running.set(pid, started);
      void exited.then(() => this.#running.delete(pid));
    }
    return started;
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once the leader has exited. */
  async stop(started: Started, graceMs = 3000): Promise<void> {
    if (!this.#running.has(started.pid)) return;
    signalGroup(started.pid, 'SIGTERM');
    const timer = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([started.exited, timer])) === 'timeout') {
      signalGroup(started.pid, 'SIGKILL');
      await started.exited;
    }
    // Group members that outlive their leader (nginx workers are reparented, not killed).
    signalGroup(started.pid, 'SIGKILL');
    this.#running.delete(started.pid);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#running.values()].map((p) => this.stop(p)));
  }

  /** Synchronous last resort for process 'exit' handlers, where nothing can be awaited. */
  killAllNow(): void {
    for (const pid of this.#running.keys()) signalGroup(pid, 'SIGKILL');
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

export interface ToolResult {
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a load tool to completion, pinned like a server; killed after `timeoutMs` or on abort. */
export function runTool(command: string, args: readonly string[], options: { cpus?: string; timeoutMs: number; signal: AbortSignal }): Promise<ToolResult> {
  const [cmd, argv] = withTaskset(options.cpus, command, args);
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal, timeout: options.timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err) => resolve({ code: `spawn error: ${err.message}`, stdout, stderr }));
    child.once('close', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', stdout, stderr }));
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; false after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal.aborted) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (open) return true;
    await sleep(100, signal).catch(() => undefined);
  }
  return false;
}

/** Memory and CPU of a process and all its descendants, from /proc. */
export interface TreeStats {
  readonly pids: readonly number[];
  /** Sum of VmRSS, KiB. Shared pages of forked workers are counted once per process. */
  readonly rssKiB: number;
  /** Sum of VmHWM (each process's peak RSS), KiB. */
  readonly peakRssKiB: number;
  /** user + system CPU seconds of the live processes (and of children they have reaped). */
  readonly cpuSeconds: number;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux x86-64 and arm64.

async function statFields(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses; everything after the last ')' is fixed.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = await statFields(Number(entry));
    if (fields?.[1] !== undefined) parents.set(Number(entry), Number(fields[1]));
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

function statusKiB(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

export async function treeStats(root: number): Promise<TreeStats> {
  let rssKiB = 0;
  let peakRssKiB = 0;
  let ticks = 0;
  const pids = await descendants(root);
  for (const pid of pids) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      rssKiB += statusKiB(status, 'VmRSS');
      peakRssKiB += statusKiB(status, 'VmHWM');
    } catch {
      continue;
    }
    // After ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    const fields = (await statFields(pid)) ?? [];
    for (const index of [11, 12, 13, 14]) ticks += Number(fields[index] ?? 0);
  }
  return { pids, rssKiB, peakRssKiB, cpuSeconds: ticks / CLOCK_TICKS };
}
