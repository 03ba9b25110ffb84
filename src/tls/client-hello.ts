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
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_HELLO) return { kind: 'invalid', reason: `ClientHello of ${need} bytes` };
    }
    if (need >= 0 && have >= need) {
      const msg = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      return parseHelloBody(msg.subarray(4, need));
    }
  }
}

/** A cursor over a byte string that reports a truncated message instead of reading past its end. */
class Reader {
  #buf: Buffer;
  #off = 0;
  constructor(buf: Buffer) {
    this.#buf = buf;
  }
  get left(): number {
    return this.#buf.length - this.#off;
  }
  skip(n: number): void {
    if (this.left < n) throw new TruncatedError();
    this.#off += n;
  }
  u8(): number {
    if (this.left < 1) throw new TruncatedError();
    return this.#buf[this.#off++]!;
  }
  u16(): number {
    if (this.left < 2) throw new TruncatedError();
    const v = this.#buf.readUInt16BE(this.#off);
    this.#off += 2;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.left < n) throw new TruncatedError();
    const v = this.#buf.subarray(this.#off, this.#off + n);
    this.#off += n;
    return v;
  }
  /** A sub-reader over the next vector with an `lenBytes`-byte length prefix. */
  vector(lenBytes: 1 | 2): Reader {
    return new Reader(this.bytes(lenBytes === 1 ? this.u8() : this.u16()));
  }
}

class TruncatedError extends Error {}

function parseHelloBody(body: Buffer): HelloResult {
  try {
    const r = new Reader(body);
    r.skip(2 + 32); // legacy_version, random
    r.vector(1); // legacy_session_id
    r.vector(2); // cipher_suites
    r.vector(1); // legacy_compression_methods
    let serverName: string | undefined;
    let alpn: string[] | undefined;
    if (r.left === 0) return { kind: 'hello', serverName, alpn }; // no extensions (pre-TLS 1.2 style)
    const exts = r.vector(2);
    while (exts.left > 0) {
      const type = exts.u16();
      const data = exts.vector(2);
      if (type === EXT_SERVER_NAME) {
        const list = data.vector(2);
        while (list.left > 0) {
          const nameType = list.u8();
          const name = list.vector(2);
          // RFC 6066 §3: at most one name per type; host_name is the only type defined.
          if (nameType === SNI_HOST_NAME && serverName === undefined) serverName = name.bytes(name.left).toString('latin1');
        }
      } else if (type === EXT_ALPN) {
        const list = data.vector(2);
        alpn = [];
        while (list.left > 0) {
          const p = list.vector(1);
          alpn.push(p.bytes(p.left).toString('latin1'));
        }
      }
    }
    return { kind: 'hello', serverName, alpn };
  } catch (err) {
    if (err instanceof TruncatedError) return { kind: 'invalid', reason: 'ClientHello truncated' };
    throw err;
  }
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
