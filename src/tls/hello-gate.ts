import type net from 'node:net';
import { parseClientHello, MAX_HELLO, type HelloResult } from './client-hello.ts';

/**
 * Reads from a fresh connection until its ClientHello is complete (or is clearly not one), then
 * pauses the socket and puts every byte read back with unshift(), so the TLS server that takes the
 * socket next reads the connection from its first byte. Node's TLSSocket consumes a net.Socket's
 * buffered data before reading from its handle, which is what makes this safe.
 *
 * Resolves undefined when the peer closes, errors or stays silent past `timeoutMs`; the socket is
 * then already destroyed.
 */
export function readClientHello(socket: net.Socket, timeoutMs: number): Promise<HelloResult | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Bytes needed before parsing can tell more: parsing (and joining chunks) happens only then,
    // so a peer trickling one byte per packet costs one parse per record, not one per byte.
    let need = 1;
    const finish = (result: HelloResult | undefined): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onEnd);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      if (result === undefined) {
        socket.destroy();
      } else {
        socket.pause();
        if (size > 0) socket.unshift(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      }
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size < need) return;
      const all = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
      chunks.splice(0, chunks.length, all);
      const result = parseClientHello(all);
      if (result.kind !== 'partial') finish(result);
      else if (result.need > MAX_HELLO + 5 * 8) finish({ kind: 'invalid', reason: 'ClientHello too long' });
      else need = result.need;
    };
    const onEnd = (): void => finish(undefined);
    // A hello comes in the first round trip; a peer that opens a connection and sends nothing holds
    // a socket for nothing (the TLS handshake timeout would not start until the hello is read).
    const timer = setTimeout(onEnd, timeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.once('error', onEnd);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}
