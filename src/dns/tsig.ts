/**
 * TSIG (RFC 8945) with HMAC-SHA256 and HMAC-SHA512, computed with node:crypto: signing a request
 * and verifying the server's signed answer. dns-packet has no TSIG record; it is built here.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { MyServerError } from '../errors.ts';
import { readName, recordOffsets, skipName, wireName } from './wire.ts';

export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha512';
export const TSIG_ALGORITHMS: readonly TsigAlgorithm[] = ['hmac-sha256', 'hmac-sha512'];

export interface TsigKey {
  /** As in the server's `key "NAME"` clause. */
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  readonly secret: Buffer;
}

const TYPE_TSIG = 250;
const CLASS_ANY = 255;
/** RFC 8945 §5.2.3: "The RECOMMENDED value [of Fudge] in most situations is 300 seconds." */
const FUDGE_SECONDS = 300;

/** RFC 8945 §5.3 and IANA "TSIG Error values" (plus the rcodes they ride on), for error messages. */
export const TSIG_ERRORS: Readonly<Record<number, string>> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };

const HASH: Readonly<Record<TsigAlgorithm, string>> = { 'hmac-sha256': 'sha256', 'hmac-sha512': 'sha512' };

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

/**
 * RFC 8945 §4.3.3, the TSIG variables digested after the message: key name, class, TTL, algorithm
 * name, time signed, fudge, error, other len, other data.
 */
function variables(key: TsigKey, timeSigned: number, fudge: number, error: number, other: Buffer): Buffer {
  return Buffer.concat([
    wireName(key.name), u16(CLASS_ANY), Buffer.alloc(4), wireName(key.algorithm),
    u48(timeSigned), u16(fudge), u16(error), u16(other.length), other,
  ]);
}

export interface SignedMessage {
  readonly message: Buffer;
  /** The request MAC, which the answer's MAC covers (§4.3.1). */
  readonly mac: Buffer;
}

/** `msg` with a TSIG record appended (ARCOUNT + 1), signed at `nowMs`. */
export function signMessage(msg: Buffer, key: TsigKey, nowMs = Date.now()): SignedMessage {
  const timeSigned = Math.floor(nowMs / 1000);
  const empty = Buffer.alloc(0);
  const mac = createHmac(HASH[key.algorithm], key.secret)
    .update(msg)
    .update(variables(key, timeSigned, FUDGE_SECONDS, 0, empty))
    .digest();
  const rdata = Buffer.concat([
    wireName(key.algorithm), u48(timeSigned), u16(FUDGE_SECONDS), u16(mac.length), mac,
    msg.subarray(0, 2), u16(0), u16(0),
  ]);
  const rr = Buffer.concat([wireName(key.name), u16(TYPE_TSIG), u16(CLASS_ANY), Buffer.alloc(4), u16(rdata.length), rdata]);
  const out = Buffer.concat([msg, rr]);
  out.writeUInt16BE(msg.readUInt16BE(10) + 1, 10);
  return { message: out, mac };
}

export interface TsigOutcome {
  /** The TSIG error field (0 = none); BADSIG, BADKEY… as named in TSIG_ERRORS. */
  readonly error: number;
  /** Whether the answer carried a MAC that verified. An answer with a TSIG error is unsigned. */
  readonly verified: boolean;
}

/**
 * Checks the TSIG record of an answer to a request signed with `requestMac` (RFC 8945 §5.3.2 on
 * the server side, §5.4 for the client): the MAC over the request MAC, the answer without its
 * TSIG record (ARCOUNT - 1, the original ID) and the variables; and the time within the fudge.
 * undefined when the answer has no TSIG record. Throws when a MAC is present and wrong.
 */
export function verifyAnswer(answer: Buffer, key: TsigKey, requestMac: Buffer, nowMs = Date.now()): TsigOutcome | undefined {
  const offsets = recordOffsets(answer);
  const last = offsets.at(-1);
  if (last === undefined || answer.readUInt16BE(10) === 0) return undefined;
  const typeAt = skipName(answer, last);
  if (answer.readUInt16BE(typeAt) !== TYPE_TSIG) return undefined;
  let o = typeAt + 10;
  const algorithm = readName(answer, o);
  o = skipName(answer, o);
  const timeSigned = answer.readUIntBE(o, 6);
  const fudge = answer.readUInt16BE(o + 6);
  const macSize = answer.readUInt16BE(o + 8);
  const mac = answer.subarray(o + 10, o + 10 + macSize);
  o += 10 + macSize;
  const originalId = answer.subarray(o, o + 2);
  const error = answer.readUInt16BE(o + 2);
  const otherLen = answer.readUInt16BE(o + 4);
  const other = answer.subarray(o + 6, o + 6 + otherLen);
  if (macSize === 0) return { error, verified: false };
  if (algorithm !== key.algorithm) throw tsigError(`the answer is signed with ${algorithm}, not ${key.algorithm}`);
  const unsigned = Buffer.from(answer.subarray(0, last));
  originalId.copy(unsigned, 0);
  unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
  const expected = createHmac(HASH[key.algorithm], key.secret)
    .update(u16(requestMac.length))
    .update(requestMac)
    .update(unsigned)
    .update(variables(key, timeSigned, fudge, error, other))
    .digest();
  if (expected.length !== mac.length || !timingSafeEqual(expected, mac)) throw tsigError('the answer\'s TSIG MAC does not verify (wrong key?)');
  if (Math.abs(Math.floor(nowMs / 1000) - timeSigned) > fudge) throw tsigError(`the answer was signed at ${timeSigned}, outside the ${fudge} s fudge`);
  return { error, verified: true };
}

function tsigError(why: string): MyServerError {
  return new MyServerError('MS_ERR_CHALLENGE_FAILED', `verifying TSIG: ${why}`);
}

/** The secret as base64, as BIND's `secret "…"` holds it. Undefined when it is not base64. */
export function tsigSecret(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const b = Buffer.from(text, 'base64');
  return b.length > 0 ? b : undefined;
}
