import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Node's `shouldUpgradeCallback` for both HTTP/1.1 servers: only a WebSocket handshake (a GET
 * whose Upgrade lists `websocket`, RFC 6455 §4.1) becomes an upgrade. Anything else that asks to
 * switch protocols (`Upgrade: h2c`, a POST with `Upgrade: websocket`, TLS/1.0) is answered as the
 * plain HTTP/1.1 request it also is: RFC 9110 §7.8 lets a server ignore Upgrade, and Node then
 * reads its body as usual. (h2c itself is not offered: there is no `servers { protocols h2c }`.)
 */
export function acceptsUpgrade(req: IncomingMessage): boolean {
  if (req.method !== 'GET') return false;
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && upgrade.split(',').some((p) => p.trim().toLowerCase() === 'websocket');
}

/**
 * The answer to a request Node's parser refused (the servers' 'clientError'): 431 for a header
 * block over the limit (RFC 6585 §5), 408 when the headers took too long, else 400; the
 * connection closes after it. A connection reset by the client, or no longer writable, is
 * destroyed without an answer.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
