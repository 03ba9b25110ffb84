import { close, fsync, open, rename, unlink, write } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
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

/**
 * What makes a temp name unique: 64 random bits per process (a pid is reused after a restart,
 * replicas in containers sharing a volume are often all pid 1, and another host sharing the
 * folder has its own pids), then a counter. Opened with O_EXCL, so a collision could only fail a
 * write, never mix two. Six random bytes per temp file cost ~25 µs of CPU, three times per
 * certificate saved (issue 12).
 */
const TEMP_PREFIX = randomBytes(8).toString('hex');
let tempCounter = 0;

export function tempPathFor(target: string): string {
  const name = basename(target).slice(0, TEMP_NAME_KEEP);
  tempCounter = (tempCounter + 1) % 0x1_0000_0000;
  return join(dirname(target), `.${name}.${process.pid}.${TEMP_PREFIX}${tempCounter.toString(16).padStart(8, '0')}.tmp`);
}

/*
 * The callback API, promisified, rather than node:fs/promises: a FileHandle costs ~30 µs more
 * main-thread CPU per operation (object, close tracking), and an issuance makes dozens of them
 * (issue 12: ~40% less user CPU per call, measured in docs/design.md).
 */
const openFd = promisify(open);
const writeFd = promisify(write);
const fsyncFd = promisify(fsync);
const closeFd = promisify(close);
const renamePath = promisify(rename);
const unlinkPath = promisify(unlink);

/**
 * Replaces `target` with `data` so that readers, and a crash at any moment, see the old content or
 * the new, never a mix: write a temp file, fsync it, rename it over the target, fsync the directory
 * (without the last step the rename itself may be lost on power failure). `durable: false` skips
 * the fsyncs for data that need not survive a crash, such as lock refreshes. `syncFolder: false`
 * (with `durable`) leaves the directory's fsync to the caller, who renames several files into one
 * folder and syncs it once (FileStorage.putAll): until then a crash may undo the rename, never
 * leave a partial file.
 * The directory must exist; ENOENT from it reaches the caller.
 */
export async function writeFileAtomic(target: string, data: Buffer | string, durable = true, syncFolder = durable): Promise<void> {
  const temp = tempPathFor(target);
  const fd = await openFd(temp, 'wx', FILE_MODE);
  try {
    try {
      await writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
      if (durable) await fsyncFd(fd);
    } finally {
      await closeFd(fd);
    }
    await renamePath(temp, target);
  } catch (err) {
    await unlinkPath(temp).catch(() => undefined);
    throw err;
  }
  if (durable && syncFolder) await syncDir(dirname(target));
}

/** write(2) may write less than asked (a full disk, a signal): loop until all of it is written. */
export async function writeAll(fd: number, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const written = (await writeFd(fd, data, off, data.length - off, null)).bytesWritten;
    if (written <= 0) throw new Error('write(2) wrote nothing');
    off += written;
  }
}

/** fsync a directory so that entries created, renamed or removed in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
