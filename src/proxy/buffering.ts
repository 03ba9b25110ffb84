import type { ProxyRequest } from './upstream-request.ts';

/** The request body to send upstream, made once per attempt. */
export interface PreparedBody {
  /** A fresh body for one attempt; null when the request has none. */
  body(): AsyncIterable<Uint8Array> | Buffer | null;
  /** Set when the whole body was buffered: its length, for Content-Length. */
  readonly contentLength?: number;
}

/**
 * `request_buffers`, as Caddy's bufferedBody: read up to `limit` bytes of the client's body (-1:
 * all of it) before anything goes upstream. A body that ended within the buffer is sent from memory
 * with its Content-Length (and can be sent again on a retry); a body that filled it is sent as the
 * buffered bytes followed by the rest as it arrives. A body exactly `limit` long counts as
 * partial, as in Caddy: telling it apart would need another read that may never return.
 *
 * Rejects when the client's stream fails (it went away); the caller then answers nobody.
 */
export async function bufferRequestBody(req: ProxyRequest, limit: number): Promise<PreparedBody> {
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = true;
  // destroyOnReturn false: leaving the loop early must leave the rest of the body readable.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    length += chunk.length;
    if (limit >= 0 && length >= limit) {
      ended = false;
      break;
    }
  }
  if (ended) {
    const whole = Buffer.concat(chunks, length);
    return { body: () => (length === 0 ? null : whole), contentLength: length };
  }
  return {
    body: () => ({
      async *[Symbol.asyncIterator]() {
        yield* chunks;
        yield* req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
      },
    }),
  };
}
