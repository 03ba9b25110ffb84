/**
 * A whole file written to a response from reused read buffers. fs.createReadStream allocates a
 * new buffer for every read; at 1 MiB per response that external memory made V8 run a full
 * mark-compact every few dozen responses (a perf profile of the 1 MiB bench case: about a third
 * of the process's CPU in concurrent marking and sweeping). A buffer goes back to the pool only
 * when the response's write callback says its bytes were consumed without error.
 */
import { close, open, read } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { chunksRetained } from '../http/response-hooks.ts';

type Res = ServerResponse | Http2ServerResponse;

export const CHUNK_BYTES = 256 * 1024;
/** Idle buffers kept: 16 × 256 KiB = 4 MiB at most. */
const POOL_MAX = 16;
const pool: Buffer[] = [];

function take(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
}

function give(buf: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buf);
}

/** For tests: how many idle buffers the pool holds. */
export function pooledBuffers(): number {
  return pool.length;
}

/**
 * Writes `size` bytes of `file` and ends the response. A file that cannot be opened answers 500
 * when nothing was sent yet; one that shrinks or fails mid-way destroys the response, since the
 * Content-Length already sent can no longer be met.
 */
export async function pipeFile(res: Res, file: string, size: number): Promise<void> {
  const fd = await new Promise<number | undefined>((resolve) => open(file, 'r', (err, f) => resolve(err ? undefined : f)));
  if (fd === undefined) {
    if (!res.headersSent) {
      res.statusCode = 500;
      res.removeHeader('content-length');
      res.end();
    } else res.destroy();
    return;
  }
  // A response hook that keeps a chunk (encode's compressor) has its write callback called as soon
  // as it took the chunk, not once the chunk was read (src/http/response-hooks.ts): reusing the
  // buffer then would overwrite bytes not yet compressed. The hooks say whether any holds chunks,
  // once the first write has run their head hooks.
  let reuse: boolean | undefined;
  let gone = false;
  const onClose = (): void => {
    gone = true;
  };
  res.once('close', onClose);
  try {
    let pos = 0;
    while (pos < size && !gone) {
      const buf = take();
      const n = await new Promise<number>((resolve) => read(fd, buf, 0, Math.min(CHUNK_BYTES, size - pos), pos, (err, got) => resolve(err ? -1 : got)));
      if (n <= 0) {
        give(buf);
        res.destroy();
        return;
      }
      pos += n;
      const more = (res as ServerResponse).write(n === CHUNK_BYTES ? buf : buf.subarray(0, n), (err?: Error | null) => {
        if (!err && reuse === true) give(buf);
      });
      reuse ??= !chunksRetained(res);
      if (!more && !gone) await drainOrClose(res);
    }
    if (!gone) res.end();
  } finally {
    res.off('close', onClose);
    close(fd, () => {});
  }
}

function drainOrClose(res: Res): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
