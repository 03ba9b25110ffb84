import type net from 'node:net';
import { parseClientHello, MAX_HELLO, type HelloResult } from './client-hello.ts';
import { stopPeeking } from '../util/socket-peek.ts';

/**
 * Reads from a fresh connection until its ClientHello is complete (or is clearly not one), then
 * pauses the socket and puts every byte read back with unshift(), so the TLS server that takes the
 * socket next reads the connection from its first byte. Node's TLSSocket consumes a net.Socket's
 * buffered data before reading from its handle, which is what makes this safe.
 *
 * `done` is called once: with the result, or with undefined when the peer closes or errors first
 * (the socket is then destroyed). No timer of its own: the caller has one budget for reading the
 * hello and deciding on it, and destroys a silent socket itself (which ends here as a close).
 * A callback, not a promise: this runs for every new connection, before any handshake work.
 */
export function readClientHello(socket: net.Socket, done: (result: HelloResult | undefined) => void): void {
  let chunks: Buffer[] | undefined;
  let first: Buffer | undefined;
  let size = 0;
  // Bytes needed before parsing can tell more: parsing (and joining chunks) happens only then,
  // so a peer trickling one byte per packet costs one parse per record, not one per byte.
  let need = 1;
  const finish = (result: HelloResult | undefined): void => {
    stopPeeking(socket, onData, onEnd, result !== undefined, chunks === undefined ? first : Buffer.concat(chunks, size));
    done(result);
  };
  const onData = (chunk: Buffer): void => {
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
    size += chunk.length;
    if (size < need) return;
    // The usual case, a hello in one read, parses the chunk as it came: no copy.
    let all = first;
    if (chunks !== undefined) {
      all = Buffer.concat(chunks, size);
      first = all;
      chunks = undefined;
    }
    const result = parseClientHello(all);
    if (result.kind !== 'partial') finish(result);
    else if (result.need > MAX_HELLO + 5 * 8) finish({ kind: 'invalid', reason: 'ClientHello too long' });
    else need = result.need;
  };
  const onEnd = (): void => finish(undefined);
  socket.on('data', onData);
  // 'close' alone: an error destroys the socket and a peer's end ends ours (no half-open on these
  // listeners), and both then close it; two listeners fewer to add and take off per connection.
  socket.on('close', onEnd);
}
