/**
 * Reading a TLS ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) from the first bytes of a
 * connection, before any TLS library sees them, for the two things the listener decides on: the
 * SNI host name (RFC 6066 §3) and the ALPN protocol list (RFC 7301 §3.1).
 *
 * Why before: Node's SNICallback cannot end a handshake with an `unrecognized_name` alert (it can
 * only drop the socket or hand OpenSSL a context), and it never runs for a hello without SNI. With
 * the hello read here, the listener answers a name it does not serve with that alert itself and
 * hands every other connection, bytes untouched, to the TLS server.
 */

export type HelloResult =
  /** More bytes are needed: at least `need` in all before the answer can change. */
  | { readonly kind: 'partial'; readonly need: number }
  /** The first byte is not a TLS handshake record; `http` when it looks like a plain HTTP request. */
  | { readonly kind: 'not-tls'; readonly http: boolean }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'hello'; readonly serverName: string | undefined; readonly alpn: readonly string[] | undefined };

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const SNI_HOST_NAME = 0;
/** RFC 8446 §5.1: a plaintext record fragment is at most 2^14 bytes. */
const MAX_RECORD = 1 << 14;
/**
 * A ClientHello may span records; real ones are under 2 KiB (about 1.8 KiB with a post-quantum key
 * share). More than this is an attack on memory, not a client.
 */
export const MAX_HELLO = 64 * 1024;
/**
 * Records a hello may span. A 64 KiB hello needs 4 full records; more means tiny fragments, which
 * only make a reader work harder per byte.
 */
const MAX_RECORDS = 8;

/**
 * Parses the ClientHello at the start of `buf` (everything read from the connection so far).
 * Pure: the same bytes always give the same answer, so the caller can call it again as bytes come.
 */
export function parseClientHello(buf: Buffer): HelloResult {
  if (buf.length === 0) return { kind: 'partial', need: 1 };
  if (buf[0] !== RECORD_HANDSHAKE) return { kind: 'not-tls', http: looksLikeHttp(buf) };
  // The usual case, the whole hello in the first record: parsed where it lies.
  if (buf.length >= 9) {
    const length = (buf[3]! << 8) | buf[4]!;
    const need = 4 + ((buf[6]! << 16) | (buf[7]! << 8) | buf[8]!);
    if (buf[5] === HANDSHAKE_CLIENT_HELLO && length <= MAX_RECORD && need <= length && buf.length >= 5 + length) return parseHelloBody(buf, 9, 5 + need);
  }
  // Reassemble the handshake message from the fragments of consecutive handshake records.
  const fragments: Buffer[] = [];
  let have = 0;
  let need = -1;
  for (let off = 0; ; ) {
    if (buf.length < off + 5) return { kind: 'partial', need: off + 5 };
    if (buf[off] !== RECORD_HANDSHAKE) return { kind: 'invalid', reason: 'a record other than handshake inside the ClientHello' };
    if (fragments.length === MAX_RECORDS) return { kind: 'invalid', reason: `ClientHello in more than ${MAX_RECORDS} records` };
    const length = buf.readUInt16BE(off + 3);
    if (length === 0 || length > MAX_RECORD) return { kind: 'invalid', reason: `record length ${length}` };
    if (buf.length < off + 5 + length) return { kind: 'partial', need: off + 5 + length };
    fragments.push(buf.subarray(off + 5, off + 5 + length));
    have += length;
    off += 5 + length;
    if (need < 0 && have >= 4) {
      const head = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return { kind: 'invalid', reason: `handshake type ${head[0]} where a ClientHello belongs` };
      need = 4 + ((head[1]! << 16) | (head[2]! << 8) | head[3]!);
      if (need > MAX_HELLO) return { kind: 'invalid', reason: `ClientHello of ${need} bytes` };
    }
    if (need >= 0 && have >= need) {
      const msg = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      return parseHelloBody(msg, 4, need);
    }
  }
}

/** What parseHelloBody reports for a vector whose length runs past its enclosing one. */
const TRUNCATED: HelloResult = { kind: 'invalid', reason: 'ClientHello truncated' };

/**
 * The hello's body, `b[start, end)`, by offsets alone: it runs for every connection, so no cursor
 * objects, no sub-buffers and no exceptions; each vector's end is checked against its enclosing
 * one's.
 */
function parseHelloBody(b: Buffer, start: number, end: number): HelloResult {
  let off = start + 2 + 32; // legacy_version, random
  if (off + 1 > end) return TRUNCATED;
  off += 1 + b[off]!; // legacy_session_id
  if (off + 2 > end) return TRUNCATED;
  off += 2 + b.readUInt16BE(off); // cipher_suites
  if (off + 1 > end) return TRUNCATED;
  off += 1 + b[off]!; // legacy_compression_methods
  if (off > end) return TRUNCATED;
  let serverName: string | undefined;
  let alpn: string[] | undefined;
  if (off === end) return { kind: 'hello', serverName, alpn }; // no extensions (pre-TLS 1.2 style)
  if (off + 2 > end) return TRUNCATED;
  const extsEnd = off + 2 + b.readUInt16BE(off);
  if (extsEnd > end) return TRUNCATED;
  off += 2;
  while (off < extsEnd) {
    if (off + 4 > extsEnd) return TRUNCATED;
    const type = b.readUInt16BE(off);
    const dataEnd = off + 4 + b.readUInt16BE(off + 2);
    if (dataEnd > extsEnd) return TRUNCATED;
    off += 4;
    if (type === EXT_SERVER_NAME) {
      if (off + 2 > dataEnd) return TRUNCATED;
      const listEnd = off + 2 + b.readUInt16BE(off);
      if (listEnd > dataEnd) return TRUNCATED;
      for (let i = off + 2; i < listEnd; ) {
        if (i + 3 > listEnd) return TRUNCATED;
        const nameType = b[i]!;
        const nameEnd = i + 3 + b.readUInt16BE(i + 1);
        if (nameEnd > listEnd) return TRUNCATED;
        // RFC 6066 §3: at most one name per type; host_name is the only type defined.
        if (nameType === SNI_HOST_NAME && serverName === undefined) serverName = b.toString('latin1', i + 3, nameEnd);
        i = nameEnd;
      }
    } else if (type === EXT_ALPN) {
      if (off + 2 > dataEnd) return TRUNCATED;
      const listEnd = off + 2 + b.readUInt16BE(off);
      if (listEnd > dataEnd) return TRUNCATED;
      alpn = [];
      for (let i = off + 2; i < listEnd; ) {
        const protoEnd = i + 1 + b[i]!;
        if (protoEnd > listEnd) return TRUNCATED;
        alpn.push(b.toString('latin1', i + 1, protoEnd));
        i = protoEnd;
      }
    }
    off = dataEnd;
  }
  return { kind: 'hello', serverName, alpn };
}

/** A request line starts with an upper-case method token: what a browser sends to http://host:443. */
function looksLikeHttp(buf: Buffer): boolean {
  const head = buf.subarray(0, 8).toString('latin1');
  return /^[A-Z]{3,7}( |$)/.test(head);
}

/** RFC 8446 §6: a fatal alert record, e.g. unrecognized_name (112). Record version 0x0303 as TLS 1.3 requires. */
export function alertRecord(description: number): Buffer {
  return Buffer.from([21, 0x03, 0x03, 0x00, 0x02, 2, description]);
}

export const ALERT_UNRECOGNIZED_NAME = 112;
