/**
 * A minimal DER codec (X.690) for the few structures x509/ builds and reads: certificates, PKCS#10
 * requests and their extensions. Internal to x509/.
 *
 * Why not @peculiar/x509: version 2 loads tsyringe, which refuses to import without a global
 * `Reflect.getMetadata` polyfill (reflect-metadata) and keeps a process-wide DI container. node-forge
 * cannot sign with ECDSA keys. node:crypto signs, verifies and parses certificates; what it lacks
 * is encoding, which for DER is a tag, a length and the contents.
 */
import { MyServerError } from '../errors.ts';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Context-specific tag number n: constructed (EXPLICIT, or IMPLICIT over a constructed type) or primitive. */
export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

export const sequence = (...items: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, ...items);

/** A SET OF: DER sorts the encoded elements (X.690 §11.6). */
export function setOf(...items: Uint8Array[]): Buffer {
  return tlv(TAG.SET, ...[...items].sort((a, b) => Buffer.compare(a, b)));
}

export const octetString = (bytes: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, bytes);
export const bitString = (bytes: Uint8Array, unusedBits = 0): Buffer => tlv(TAG.BIT_STRING, Buffer.from([unusedBits]), bytes);
export const utf8String = (text: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(text, 'utf8'));
export const boolean = (value: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
export const nullValue = (): Buffer => tlv(TAG.NULL);

/** A non-negative INTEGER from its magnitude bytes, minimally encoded. */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = Buffer.from(magnitude.subarray(start));
  if (trimmed.length === 0) return tlv(TAG.INTEGER, Buffer.from([0]));
  // A set high bit would read as negative: prefix a zero byte.
  return (trimmed[0] ?? 0) & 0x80 ? tlv(TAG.INTEGER, Buffer.from([0]), trimmed) : tlv(TAG.INTEGER, trimmed);
}

export function smallInteger(value: number): Buffer {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return unsignedInteger(Buffer.from(bytes));
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new MyServerError('MS_ERR_X509', `invalid object identifier "${dotted}"`);
  }
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v % 128) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(bytes));
}

/**
 * RFC 5280 §4.1.2.5: "CAs conforming to this profile MUST always encode certificate validity dates
 * through the year 2049 as UTCTime; certificate validity dates in 2050 or later MUST be encoded as
 * GeneralizedTime." Fractional seconds are dropped (§4.1.2.5.2 forbids them).
 */
export function time(date: Date): Buffer {
  const iso = new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(TAG.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : tlv(TAG.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'ascii'));
}

/** One decoded element: `contents` is a view into the input, `raw` the whole encoding. */
export interface Element {
  readonly tag: number;
  readonly contents: Buffer;
  readonly raw: Buffer;
}

function malformed(what: string): MyServerError {
  return new MyServerError('MS_ERR_X509', `malformed DER: ${what}`);
}

/** The element starting at `offset`. Only single-byte tags and definite lengths, as DER requires. */
export function readElement(input: Buffer, offset = 0): Element {
  const tag = input[offset];
  const first = input[offset + 1];
  if (tag === undefined || first === undefined) throw malformed('truncated header');
  if ((tag & 0x1f) === 0x1f) throw malformed('multi-byte tags are not supported');
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw malformed('unsupported length encoding');
    length = 0;
    for (let i = 0; i < count; i++) {
      const b = input[offset + 2 + i];
      if (b === undefined) throw malformed('truncated length');
      length = length * 256 + b;
    }
    header += count;
  }
  const end = offset + header + length;
  if (end > input.length) throw malformed('length runs past the end');
  return { tag, contents: input.subarray(offset + header, end), raw: input.subarray(offset, end) };
}

/** The single element that fills `input` exactly. */
export function readWhole(input: Buffer, expectedTag?: number): Element {
  const element = readElement(input, 0);
  if (element.raw.length !== input.length) throw malformed('trailing bytes');
  if (expectedTag !== undefined && element.tag !== expectedTag) throw malformed(`expected tag 0x${expectedTag.toString(16)}`);
  return element;
}

/** The elements inside a constructed element. */
export function children(element: Element): Element[] {
  const out: Element[] = [];
  for (let offset = 0; offset < element.contents.length; ) {
    const child = readElement(element.contents, offset);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

export function decodeOid(element: Element): string {
  if (element.tag !== TAG.OID || element.contents.length === 0) throw malformed('expected an object identifier');
  const arcs: number[] = [];
  let value = 0;
  for (const byte of element.contents) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const [head = 0, ...rest] = arcs;
  const first = head < 80 ? Math.floor(head / 40) : 2;
  return [first, head - first * 40, ...rest].join('.');
}

/** The text of a directory string (UTF8String, PrintableString, IA5String, T61String, BMPString). */
export function decodeString(element: Element): string {
  switch (element.tag) {
    case TAG.UTF8_STRING:
      return element.contents.toString('utf8');
    case TAG.BMP_STRING:
      if (element.contents.length % 2 !== 0) throw malformed('odd-length BMPString');
      return Buffer.from(element.contents).swap16().toString('utf16le');
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.T61_STRING:
      return element.contents.toString('latin1');
    default:
      throw malformed(`unsupported string tag 0x${element.tag.toString(16)}`);
  }
}
