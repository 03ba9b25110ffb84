/** Runs the openssl CLI asynchronously (never spawnSync: a server under test lives in this process). */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OpensslResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export async function openssl(args: readonly string[], options: { input?: string | Uint8Array; cwd?: string } = {}): Promise<OpensslResult> {
  const child = spawn('openssl', args, {
    cwd: options.cwd,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    signal: AbortSignal.timeout(20_000),
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('latin1').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('latin1').on('data', (d: string) => (stderr += d));
  if (options.input !== undefined) child.stdin?.end(options.input);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, stdout, stderr };
}

/** A temporary directory removed after `fn`, whatever it does. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-x509-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
