import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/** RFC 6455 §1.3: the accept key is base64(SHA-1(key + this GUID)). */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface WsEchoOptions {
  /**
   * Prefix every echo with the upgrade request's X-Forwarded-For and `|`, so tests can see what the
   * proxy sent. Default false: the text comes back as it was sent.
   */
  readonly forwardedFor?: boolean;
}

export interface WsEcho {
  readonly port: number;
  /** `127.0.0.1:PORT`, for `reverse_proxy`. */
  readonly address: string;
  readonly server: http.Server;
  /** Destroys the upgraded sockets (the server's close() would wait for them), then closes. */
  close(): Promise<void>;
}

/**
 * A minimal WebSocket echo upstream on 127.0.0.1 (RFC 6455): answers the handshake and echoes text
 * frames of up to 64 KiB (client frames are masked, replies are not); plain requests get a 426.
 */
export async function wsEchoUpstream(options: WsEchoOptions = {}): Promise<WsEcho> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const sockets = new Set<Duplex>();
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const key = String(req.headers['sec-websocket-key']);
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const prefix = options.forwardedFor === true ? `${String(req.headers['x-forwarded-for'])}|` : '';
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const frame = parseFrame(buf);
        if (frame === undefined) break;
        buf = buf.subarray(frame.length);
        if (frame.opcode === 0x8) {
          socket.end(encodeFrame(0x8, Buffer.alloc(0)));
          return;
        }
        if (frame.opcode === 0x1) socket.write(encodeFrame(0x1, Buffer.from(prefix + frame.payload.toString('utf8'))));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseFrame(buf: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (buf.length < 2) return undefined;
  const opcode = (buf[0] ?? 0) & 0x0f;
  const masked = ((buf[1] ?? 0) & 0x80) !== 0;
  let len = (buf[1] ?? 0) & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    throw new Error('test WebSocket upstream: frames over 64 KiB are not supported');
  }
  const maskOffset = offset;
  if (masked) offset += 4;
  if (buf.length < offset + len) return undefined;
  const payload = Buffer.from(buf.subarray(offset, offset + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] = (payload[i] ?? 0) ^ (buf[maskOffset + (i % 4)] ?? 0);
  return { opcode, payload, length: offset + len };
}

function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const head =
    payload.length < 126
      ? Buffer.from([0x80 | opcode, payload.length])
      : Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, payload]);
}
