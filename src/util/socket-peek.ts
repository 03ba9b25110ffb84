import type net from 'node:net';

/**
 * Ends a look at a connection's first bytes (the TLS ClientHello gate, the h2c preface check):
 * the reader's listeners come off, and either the connection is dropped or it is paused with the
 * bytes read put back, for the server it is handed to next to read them first.
 */
export function stopPeeking(socket: net.Socket, onData: (chunk: Buffer) => void, onEnd: () => void, keep: boolean, bytes: Buffer | undefined): void {
  socket.off('data', onData);
  socket.off('error', onEnd);
  socket.off('end', onEnd);
  socket.off('close', onEnd);
  if (!keep) {
    socket.destroy();
    return;
  }
  socket.pause();
  if (bytes !== undefined && bytes.length > 0) socket.unshift(bytes);
}
