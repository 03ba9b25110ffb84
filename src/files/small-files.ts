/**
 * Small static files served from one buffer. A request for a file the handler has just stat'ed
 * is answered from memory when that stat still describes what was read (device, inode, size,
 * modification and change times), so a hot file costs no open/read/close at all; otherwise the
 * file is read with one open, one read and a close nobody waits for (three thread-pool trips
 * where a read stream takes four, and no stream objects). The stat each request takes keeps
 * answers fresh: there is no time-to-live during which a changed file is served stale.
 */
import { close, open, read, type Stats } from 'node:fs';

/** What a stat says of a file's content: a read is reused only for the same. */
interface Identity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

interface Entry extends Identity {
  readonly bytes: Buffer;
}

function sameFile(e: Identity, s: Stats): boolean {
  return e.ino === s.ino && e.size === s.size && e.mtimeMs === s.mtimeMs && e.ctimeMs === s.ctimeMs && e.dev === s.dev;
}

/** Path → bytes, least recently used first, bounded by the bytes it holds. */
export class SmallFiles {
  readonly #limit: number;
  readonly #entries = new Map<string, Entry>();
  /**
   * Reads in flight: a burst of requests for a file not cached yet (a page's first visitors after
   * a deploy) makes one read, not one each.
   */
  readonly #reading = new Map<string, { readonly identity: Identity; readonly bytes: Promise<Buffer | undefined> }>();
  #held = 0;

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  get heldBytes(): number {
    return this.#held;
  }

  /**
   * The bytes of `file`, whose stat is `stats`; undefined when what is read does not have the
   * stat's size (the file changed or vanished since), for the caller to fall back to a stream.
   */
  get(file: string, stats: Stats): Promise<Buffer | undefined> {
    const hit = this.cached(file, stats);
    if (hit !== undefined) return Promise.resolve(hit);
    const inFlight = this.#reading.get(file);
    if (inFlight !== undefined && sameFile(inFlight.identity, stats)) return inFlight.bytes;
    const identity: Identity = { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs };
    const bytes = readWhole(file, stats.size).then((read) => {
      if (this.#reading.get(file)?.bytes === bytes) this.#reading.delete(file);
      if (read !== undefined) this.#put(file, { ...identity, bytes: read });
      return read;
    });
    this.#reading.set(file, { identity, bytes });
    return bytes;
  }

  /** The cached bytes of `file` when its stat still matches `stats`; no promise, for the hot path. */
  cached(file: string, stats: Stats): Buffer | undefined {
    const hit = this.#entries.get(file);
    if (hit === undefined || !sameFile(hit, stats)) return undefined;
    // Most recently used goes last; already last (one hot file) costs nothing.
    if (this.#entries.size > 1) {
      this.#entries.delete(file);
      this.#entries.set(file, hit);
    }
    return hit.bytes;
  }

  #put(file: string, entry: Entry): void {
    const old = this.#entries.get(file);
    if (old !== undefined) {
      this.#entries.delete(file);
      this.#held -= old.bytes.length;
    }
    if (entry.bytes.length > this.#limit) return;
    this.#entries.set(file, entry);
    this.#held += entry.bytes.length;
    for (const [key, e] of this.#entries) {
      if (this.#held <= this.#limit) break;
      this.#entries.delete(key);
      this.#held -= e.bytes.length;
    }
  }
}

/**
 * Reads `size` bytes, asking for one more: a file that grew or shrank since its stat gives
 * undefined rather than bytes that disagree with the Content-Length about to be sent.
 */
function readWhole(file: string, size: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    open(file, 'r', (err, fd) => {
      if (err) {
        resolve(undefined);
        return;
      }
      // Its own memory: a slice of Node's shared 8 KiB pool would keep the whole pool alive
      // while the cache counts only `size` bytes.
      const buf = Buffer.allocUnsafeSlow(size + 1);
      read(fd, buf, 0, size + 1, 0, (readErr, n) => {
        close(fd, () => {});
        resolve(readErr || n !== size ? undefined : buf.subarray(0, size));
      });
    });
  });
}
