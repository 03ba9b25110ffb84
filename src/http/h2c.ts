import type net from 'node:net';
import { stopPeeking } from '../util/socket-peek.ts';

/** RFC 9113 §3.4: the client connection preface that opens HTTP/2 with prior knowledge. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Reads a fresh plain-HTTP connection until its first bytes either are the HTTP/2 preface or
 * stop matching it, then pauses the socket and puts every byte read back with unshift(), so the
 * server that takes it next reads the connection from its first byte (Node's HTTP/2 server takes
 * a socket's buffered data first; its HTTP/1 server needs the socket resumed, see http-front.ts).
 *
 * An HTTP/1.1 request line differs from the preface at its first byte unless its method begins
 * with "P" (POST, PUT, PATCH: the second byte), so waiting costs one packet at most.
 * Resolves 'h2c' or 'h1'; undefined when the peer closes, errors or sends nothing within
 * `timeoutMs` (the socket is then already destroyed).
 */
export function readPreface(socket: net.Socket, timeoutMs: number): Promise<'h2c' | 'h1' | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: 'h2c' | 'h1' | undefined): void => {
      clearTimeout(timer);
      stopPeeking(socket, onData, onEnd, result !== undefined, size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      // Compare the new bytes only, against the part of the preface they stand for.
      const upto = Math.min(chunk.length, H2_PREFACE.length - size);
      const matches = upto <= 0 || chunk.compare(H2_PREFACE, size, size + upto, 0, upto) === 0;
      chunks.push(chunk);
      size += chunk.length;
      if (!matches) finish('h1');
      else if (size >= H2_PREFACE.length) finish('h2c');
    };
    const onEnd = (): void => finish(undefined);
    // 0 is `timeouts { read_header 0 }`: no limit, as for the HTTP/1.1 headers.
    const timer = timeoutMs > 0 ? setTimeout(onEnd, timeoutMs) : undefined;
    timer?.unref();
    socket.on('data', onData);
    socket.once('error', onEnd);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}
