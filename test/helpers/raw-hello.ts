/**
 * A TLS 1.2/1.3 ClientHello built byte by byte, for server names no TLS library would send: NUL,
 * non-ASCII bytes, IP literals, invalid punycode. Enough of a hello for a server to parse and (for
 * a good name) answer with its ServerHello: TLS 1.2 ECDHE-ECDSA suites, P-256, no key share.
 */
import net from 'node:net';

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function vec16(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u16(body.length), body]);
}

function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), vec16(data)]);
}

/** The hello record with SNI `serverName` (raw bytes: a string is taken as latin1) and an ALPN list. */
export function rawClientHello(serverName: Buffer | string | undefined, alpn: readonly string[] = ['http/1.1']): Buffer {
  const name = typeof serverName === 'string' ? Buffer.from(serverName, 'latin1') : serverName;
  const extensions: Buffer[] = [];
  // RFC 6066 §3: ServerNameList of one host_name (type 0).
  if (name !== undefined) extensions.push(ext(0, vec16(Buffer.concat([Buffer.from([0]), vec16(name)]))));
  // supported_groups (P-256), ec_point_formats (uncompressed), signature_algorithms (ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256).
  extensions.push(ext(10, vec16(u16(23))), ext(11, Buffer.from([1, 0])), ext(13, vec16(u16(0x0403), u16(0x0804))));
  if (alpn.length > 0) extensions.push(ext(16, vec16(...alpn.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])))));
  const body = Buffer.concat([
    Buffer.from([3, 3]), // legacy_version TLS 1.2
    Buffer.alloc(32, 7), // random
    Buffer.from([0]), // legacy_session_id
    vec16(u16(0xc02b), u16(0xc02f)), // ECDHE-ECDSA/RSA-AES128-GCM-SHA256
    Buffer.from([1, 0]), // null compression
    vec16(...extensions),
  ]);
  const handshake = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([22, 3, 1]), u16(handshake.length), handshake]);
}

/**
 * Sends `hello` to 127.0.0.1:`port` and resolves with the first bytes the server answers (empty when
 * it closes without a word) within `timeoutMs`. Never rejects.
 */
export function sendHello(port: number, hello: Buffer, timeoutMs = 15_000): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      // A record header and its body: an alert (7 bytes) or the start of a ServerHello.
      if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(hello);
  });
}

/** The fatal unrecognized_name alert (RFC 6066 §3, RFC 8446 §6). */
export const UNRECOGNIZED_NAME_ALERT = Buffer.from([21, 3, 3, 0, 2, 2, 112]);
