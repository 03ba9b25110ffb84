import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/** RFC 6455 §1.3: the accept key is base64(SHA-1(key + this GUID)). */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const BIG_SIZE = 4 * 1024 * 1024;
let big: Buffer | undefined;

/**
 * 4 MiB of compressible but not repetitive text (numbered lines of random hex), served at /big:
 * large enough to stall a broken encoder. Made on first use, in a few milliseconds, so files that
 * never ask for it do not pay for it.
 */
export function bigBody(): Buffer {
  big ??= ((): Buffer => {
    const hex = randomBytes(BIG_SIZE / 2).toString('hex');
    const lines: string[] = [];
    let size = 0;
    for (let i = 0; size < BIG_SIZE; i++) {
      const line = `line ${i} ${hex.slice((i * 64) % (hex.length - 64), ((i * 64) % (hex.length - 64)) + 64)}\n`;
      lines.push(line);
      size += line.length;
    }
    return Buffer.from(lines.join('')).subarray(0, BIG_SIZE);
  })();
  return big;
}

export interface RecordingUpstream {
  /** `127.0.0.1:PORT`, for `reverse_proxy`. */
  readonly address: string;
  /** Targets of ordinary requests, in order. */
  readonly hits: string[];
  /** Targets of upgrade requests, in order. */
  readonly upgrades: string[];
  /** Destroys the upgraded sockets (close() would otherwise wait for them), then closes. */
  close(): Promise<void>;
}

/**
 * An upstream on 127.0.0.1 that records what reaches it: /big answers bigBody(); any other request its
 * target as text. An upgrade request is completed with a correct 101 and the socket then kept open,
 * silent, until close(): what a WebSocket backend looks like to a proxy between messages.
 */
export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const hits: string[] = [];
  const upgrades: string[] = [];
  const upgraded = new Set<Duplex>();
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/big') {
      const body = bigBody();
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length }).end(body);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream saw ${req.url ?? ''}`);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    upgrades.push(req.url ?? '');
    upgraded.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => upgraded.delete(socket));
    const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}${WS_GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    hits,
    upgrades,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of upgraded) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
