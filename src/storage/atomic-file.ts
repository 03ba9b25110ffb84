import { open, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** Private keys live in storage, so every file is owner-only, as in certmagic. */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * Temp files are ".<name>.<pid>.<random>.tmp" next to their target, so the final rename stays on
 * one filesystem (rename(2) is atomic only there). The leading '.' keeps them out of list(): no key
 * segment may start with '.'.
 */
const TEMP_FILE = /^\..*\.\d+\.[0-9a-f]+\.tmp$/;

/** Long names are shortened in the temp name so it stays under NAME_MAX (255 bytes). */
const TEMP_NAME_KEEP = 100;

export function isTempFile(name: string): boolean {
  return TEMP_FILE.test(name);
}

export function tempPathFor(target: string): string {
  const name = basename(target).slice(0, TEMP_NAME_KEEP);
  return join(dirname(target), `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Replaces `target` with `data` so that readers, and a crash at any moment, see the old content or
 * the new, never a mix: write a temp file, fsync it, rename it over the target, fsync the directory
 * (without the last step the rename itself may be lost on power failure). `durable: false` skips
 * the fsyncs for data that need not survive a crash, such as lock refreshes.
 * The directory must exist; ENOENT from it reaches the caller.
 */
export async function writeFileAtomic(target: string, data: Buffer | string, durable = true): Promise<void> {
  const temp = tempPathFor(target);
  const fh = await open(temp, 'wx', FILE_MODE);
  try {
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, target);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  if (durable) await syncDir(dirname(target));
}

/** fsync a directory so that entries created, renamed or removed in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
