/**
 * Just enough DER (ITU-T X.690) to assemble local-CA leaves and read certificates without an ASN.1
 * schema library: through @peculiar/x509 each costs milliseconds of CPU (WebCrypto round-trips and
 * schema-driven parsing), which dominated an on-demand issuance from the local CA (issue 12).
 * Internal to x509/.
 */
import { MyServerError } from '../errors.ts';

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One element: tag, its content, and the whole element's bytes. */
export interface Tlv {
  readonly tag: number;
  readonly content: Buffer;
  readonly raw: Buffer;
}

export function encode(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  const n = body.length;
  let head: Buffer;
  if (n < 0x80) head = Buffer.from([tag, n]);
  else if (n < 0x100) head = Buffer.from([tag, 0x81, n]);
  else if (n < 0x10000) head = Buffer.from([tag, 0x82, n >> 8, n & 0xff]);
  else head = Buffer.from([tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([head, body]);
}

export const sequence = (...parts: Buffer[]): Buffer => encode(TAG.sequence, ...parts);

/** A positive INTEGER from big-endian magnitude bytes: minimal, with a 0x00 sign byte when the top bit is set. */
export function positiveInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const bytes = Buffer.from(magnitude.subarray(start));
  return encode(TAG.integer, bytes.length === 0 || (bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, "Z". */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-12-05T01:02:03.456Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() <= 2049 ? encode(TAG.utcTime, Buffer.from(digits.slice(2), 'ascii')) : encode(TAG.generalizedTime, Buffer.from(digits, 'ascii'));
}

/** Reads the element at `offset` of `buf`; throws MS_ERR_X509 on truncated or indefinite-length input. */
export function readTlv(buf: Buffer, offset = 0): Tlv {
  const fail = (): never => {
    throw new MyServerError('MS_ERR_X509', `malformed DER at offset ${offset}`);
  };
  if (offset + 2 > buf.length) fail();
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let head = 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0 || count > 4 || offset + 2 + count > buf.length) fail();
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + buf[offset + 2 + i]!;
    head += count;
  }
  const end = offset + head + len;
  if (end > buf.length) fail();
  return { tag, content: buf.subarray(offset + head, end), raw: buf.subarray(offset, end) };
}

/** The elements inside a constructed element's content, in order. */
export function children(content: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let offset = 0; offset < content.length; ) {
    const t = readTlv(content, offset);
    out.push(t);
    offset += t.raw.length;
  }
  return out;
}

/** Dotted text of an OBJECT IDENTIFIER's content bytes. */
export function oidText(content: Buffer): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** UTCTime or GeneralizedTime ("YYMMDDHHMMSSZ" / "YYYYMMDDHHMMSS[.f]Z") to a Date. */
export function readTime(t: Tlv): Date {
  const text = t.content.toString('ascii');
  const m = t.tag === TAG.utcTime ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(text);
  if (m === null) throw new MyServerError('MS_ERR_X509', `unsupported time "${text}"`);
  let year = Number(m[1]);
  if (t.tag === TAG.utcTime) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}
