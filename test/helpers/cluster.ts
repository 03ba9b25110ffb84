/**
 * What the workers and multi-instance tests ask of the processes they start: which process holds
 * a connection or listens on a port (`ss`), and the JSON log lines a server printed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RunningServer } from './run-server.ts';

const run = promisify(execFile);

/** Client port → pid of the process holding the server side, for established connections to `port`. */
export async function serverPids(port: number): Promise<Map<number, number>> {
  const { stdout } = await run('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`]);
  const out = new Map<number, number>();
  for (const line of stdout.split('\n')) {
    const m = /\S+:(\d+)\s+\S+:(\d+)\s+users:\(\("[^"]*",pid=(\d+)/.exec(line);
    if (m && Number(m[1]) === port) out.set(Number(m[2]), Number(m[3]));
  }
  return out;
}

/** Pids with a listening socket on `port`. */
export async function listeningPids(port: number): Promise<Set<number>> {
  const { stdout } = await run('ss', ['-tlnpH', `( sport = :${port} )`]);
  return new Set([...stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

/** The server's JSON log lines whose msg is `msg`, from output offset `from` on. */
export function logLines(server: RunningServer, msg: string, from = 0): { worker?: number; [k: string]: unknown }[] {
  const out: { worker?: number; [k: string]: unknown }[] = [];
  for (const line of server.output().slice(from).split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      out.push(JSON.parse(line) as { worker?: number; [k: string]: unknown });
    } catch {
      // a line cut by the chunk boundary: the caller waits for complete ones
    }
  }
  return out;
}
