/**
 * FastCGI 1.0 record framing (the FastCGI Specification, sections 3 and 5): an 8-byte header
 * (version, type, request id, content length, padding length, reserved), the content, then the
 * padding. Content is at most 65535 bytes a record; longer streams go in several records, and an
 * empty record of a stream type (PARAMS, STDIN) ends that stream.
 */

export const FCGI_VERSION_1 = 1;

export const BEGIN_REQUEST = 1;
export const ABORT_REQUEST = 2;
export const END_REQUEST = 3;
export const PARAMS = 4;
export const STDIN = 5;
export const STDOUT = 6;
export const STDERR = 7;

export const ROLE_RESPONDER = 1;
/** BEGIN_REQUEST flag: the application keeps the connection open after END_REQUEST. */
export const FLAG_KEEP_CONN = 1;

export const MAX_CONTENT = 0xffff;
const HEADER_LEN = 8;

export interface FcgiRecord {
  readonly type: number;
  readonly requestId: number;
  readonly content: Buffer;
}

/** One record; content over 65535 bytes is the caller's to split (see streamRecords). */
export function encodeRecord(type: number, requestId: number, content: Buffer = Buffer.alloc(0)): Buffer {
  if (content.length > MAX_CONTENT) throw new RangeError(`FastCGI record content of ${content.length} bytes exceeds ${MAX_CONTENT}`);
  // Padding to a multiple of 8 is what the spec recommends for the receiver's alignment.
  const padding = (8 - (content.length % 8)) % 8;
  const out = Buffer.alloc(HEADER_LEN + content.length + padding);
  out[0] = FCGI_VERSION_1;
  out[1] = type;
  out.writeUInt16BE(requestId, 2);
  out.writeUInt16BE(content.length, 4);
  out[6] = padding;
  content.copy(out, HEADER_LEN);
  return out;
}

/** `data` as records of `type`, split at 65535 bytes; empty data gives no record (not the stream's end). */
export function streamRecords(type: number, requestId: number, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += MAX_CONTENT) out.push(encodeRecord(type, requestId, data.subarray(at, at + MAX_CONTENT)));
  return out;
}

export function beginRequest(requestId: number, keepConn: boolean): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16BE(ROLE_RESPONDER, 0);
  body[2] = keepConn ? FLAG_KEEP_CONN : 0;
  return encodeRecord(BEGIN_REQUEST, requestId, body);
}

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  // Four-byte lengths carry the high bit as their marker (spec 3.4).
  b.writeUInt32BE((n | 0x80000000) >>> 0, 0);
  return b;
}

/** Name-value pairs (spec 3.4) as one PARAMS stream body, without its records. */
export function encodeParams(params: Iterable<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of params) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(lengthBytes(n.length), lengthBytes(v.length), n, v);
  }
  return Buffer.concat(parts);
}

/** Decodes a name-value pair body (used by tests and by nothing else: the client only sends them). */
export function decodeParams(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  const len = (): number => {
    const first = body[at];
    if (first === undefined) throw new Error('FastCGI params: truncated length');
    if (first < 0x80) {
      at += 1;
      return first;
    }
    if (at + 4 > body.length) throw new Error('FastCGI params: truncated length');
    const n = body.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return n;
  };
  while (at < body.length) {
    const nl = len();
    const vl = len();
    if (at + nl + vl > body.length) throw new Error('FastCGI params: truncated pair');
    const name = body.toString('utf8', at, at + nl);
    at += nl;
    out.set(name, body.toString('utf8', at, at + vl));
    at += vl;
  }
  return out;
}

/** Reassembles records from a byte stream cut anywhere. */
export class RecordReader {
  #buf: Buffer = Buffer.alloc(0);

  /** The records complete after `chunk`; a bad version is a protocol error (thrown). */
  push(chunk: Buffer): FcgiRecord[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: FcgiRecord[] = [];
    for (;;) {
      if (this.#buf.length < HEADER_LEN) break;
      if (this.#buf[0] !== FCGI_VERSION_1) throw new Error(`FastCGI protocol error: record version ${this.#buf[0]}`);
      const contentLength = this.#buf.readUInt16BE(4);
      const total = HEADER_LEN + contentLength + (this.#buf[6] as number);
      if (this.#buf.length < total) break;
      out.push({
        type: this.#buf[1] as number,
        requestId: this.#buf.readUInt16BE(2),
        // A copy: the content outlives this buffer, which the next push replaces.
        content: Buffer.from(this.#buf.subarray(HEADER_LEN, HEADER_LEN + contentLength)),
      });
      this.#buf = this.#buf.subarray(total);
    }
    return out;
  }

  /** Bytes of an unfinished record. */
  get pending(): number {
    return this.#buf.length;
  }
}

/** END_REQUEST's body: the application's exit status and the protocol status (0: request complete). */
export function decodeEndRequest(content: Buffer): { appStatus: number; protocolStatus: number } {
  if (content.length < 8) throw new Error('FastCGI protocol error: short END_REQUEST');
  return { appStatus: content.readUInt32BE(0), protocolStatus: content[4] as number };
}
