import { MyServerError, causeChain } from '../errors.ts';
import { findProblem } from './problem.ts';

/**
 * ACME Renewal Information (RFC 9773): the CertID that names a certificate in renewalInfo requests
 * and in a newOrder's `replaces`, and the choice of a renewal time within the CA's window.
 */

/**
 * RFC 9773 §4.1: "base64url-encoded [...] bytes of the keyIdentifier field of the Authority Key
 * Identifier extension", ".", then "the base64url-encoded bytes (not including the type and length)
 * of the DER encoding of the serial number". `serial` is the INTEGER's content octets, so a leading
 * 00 (present when the top bit is set) stays.
 */
export function certIdFromParts(akiKeyId: Uint8Array, serial: Uint8Array): string {
  if (akiKeyId.length === 0 || serial.length === 0) {
    throw new MyServerError('MS_ERR_X509', 'computing ARI CertID: empty key identifier or serial');
  }
  return `${Buffer.from(akiKeyId).toString('base64url')}.${Buffer.from(serial).toString('base64url')}`;
}

/**
 * The CertID of a DER certificate, read with a minimal DER walk (this module imports no X.509
 * library). Throws MS_ERR_X509 when the certificate has no Authority Key Identifier keyIdentifier,
 * since then the CA cannot be asked about it.
 */
export function certIdFromCertificate(certDer: Uint8Array): string {
  const { aki, serial } = readAkiAndSerial(Buffer.from(certDer));
  return certIdFromParts(aki, serial);
}

export interface RenewalWindow {
  readonly start: Date;
  readonly end: Date;
}

/**
 * RFC 9773 §4.2: "the client SHOULD select a uniform random time within the suggested window". The
 * caller renews at once when the time is already past, and re-asks the CA after its Retry-After,
 * since the window can move (e.g. before a mass revocation). `random` returns [0, 1).
 */
export function chooseRenewalTime(window: RenewalWindow, random: () => number = Math.random): Date {
  const start = window.start.getTime();
  const span = Math.max(0, window.end.getTime() - start);
  return new Date(start + Math.floor(random() * span));
}

/**
 * RFC 9773 §4.3.2: "Clients MUST set reasonable limits on their checking interval. For example,
 * values under one minute could be treated as if they were one minute, and values over one day
 * could be treated as if they were one day."
 */
export const RENEWAL_INFO_MIN_CHECK_MS = 60_000;
export const RENEWAL_INFO_MAX_CHECK_MS = 24 * 3600_000;
/**
 * RFC 9773 §4.3.3: on a long-term error (which includes "Retry-After is invalid or not present"),
 * "clients MUST make the next renewalInfo request as soon as possible after six hours have passed".
 */
export const RENEWAL_INFO_DEFAULT_CHECK_MS = 6 * 3600_000;
/**
 * Temporary errors retried with backoff before they count as long-term (§4.3.3: "exponential
 * backoff with a capped number of tries"): about 1-2, 2-4 and 4-8 minutes, then six hours.
 */
const TEMPORARY_TRIES = 3;
const TEMPORARY_BASE_MS = 2 * RENEWAL_INFO_MIN_CHECK_MS;

/** How long to wait before asking for renewal information again, after an answer with this Retry-After. */
export function renewalInfoCheckDelay(retryAfterMs: number | undefined): number {
  if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs)) return RENEWAL_INFO_DEFAULT_CHECK_MS;
  return Math.min(RENEWAL_INFO_MAX_CHECK_MS, Math.max(RENEWAL_INFO_MIN_CHECK_MS, retryAfterMs));
}

/**
 * How long to wait after the `failures`-th failure in a row (1-based) to fetch renewal information.
 * RFC 9773 §4.3.3 names the temporary errors ("Connection timeout", "Request timeout", "5xx HTTP
 * errors"): they back off exponentially for a few tries. Everything else (connection refused, DNS
 * failure, a 4xx problem, an invalid window), and temporary errors once the tries are spent, waits
 * six hours. A Retry-After the CA sent with its problem is honoured when longer, within the bounds.
 * `random` returns [0, 1) and spreads the backoff between half and the whole of each step.
 */
export function renewalInfoRetryDelay(err: unknown, failures: number, random: () => number = Math.random): number {
  const attempt = Math.max(0, failures - 1);
  let delay = RENEWAL_INFO_DEFAULT_CHECK_MS;
  if (isTemporary(err) && attempt < TEMPORARY_TRIES) {
    const step = TEMPORARY_BASE_MS * 2 ** attempt;
    delay = step / 2 + (step / 2) * random();
  }
  const asked = findProblem(err)?.retryAfter;
  if (asked !== undefined && Number.isFinite(asked)) delay = Math.max(delay, asked);
  return Math.round(Math.min(RENEWAL_INFO_MAX_CHECK_MS, Math.max(RENEWAL_INFO_MIN_CHECK_MS, delay)));
}

const LONG_TERM_NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_NONAME']);

function isTemporary(err: unknown): boolean {
  const problem = findProblem(err);
  if (problem) return problem.status !== undefined && problem.status >= 500;
  if (!(err instanceof MyServerError) || err.code !== 'MS_ERR_ACME_NETWORK') return false;
  // A network failure is a timeout or a dropped connection unless a cause says "refused" or "no such host".
  for (const cur of causeChain(err.cause)) {
    const code = cur instanceof Error ? (cur as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && LONG_TERM_NETWORK_CODES.has(code)) return false;
  }
  return true;
}

interface Tlv {
  readonly tag: number;
  /** Offset of the contents. */
  readonly start: number;
  /** Offset just past the contents. */
  readonly end: number;
}

const OID_AUTHORITY_KEY_IDENTIFIER = Buffer.from([0x55, 0x1d, 0x23]); // 2.5.29.35

function readAkiAndSerial(der: Buffer): { aki: Buffer; serial: Buffer } {
  try {
    const cert = readTlv(der, 0, der.length);
    const tbs = readTlv(der, cert.start, cert.end);
    let cur = readTlv(der, tbs.start, tbs.end);
    if (cur.tag === 0xa0) cur = readTlv(der, cur.end, tbs.end); // [0] version
    if (cur.tag !== 0x02) throw new Error('no serialNumber');
    const serial = der.subarray(cur.start, cur.end);
    // signature, issuer, validity, subject, subjectPublicKeyInfo, then optional fields
    for (let pos = cur.end; pos < tbs.end; ) {
      const field = readTlv(der, pos, tbs.end);
      pos = field.end;
      if (field.tag !== 0xa3) continue; // [3] extensions
      const exts = readTlv(der, field.start, field.end);
      for (let e = exts.start; e < exts.end; ) {
        const ext = readTlv(der, e, exts.end);
        e = ext.end;
        const oid = readTlv(der, ext.start, ext.end);
        if (!der.subarray(oid.start, oid.end).equals(OID_AUTHORITY_KEY_IDENTIFIER)) continue;
        let value = readTlv(der, oid.end, ext.end);
        if (value.tag === 0x01) value = readTlv(der, value.end, ext.end); // critical
        const akiSeq = readTlv(der, value.start, value.end);
        for (let a = akiSeq.start; a < akiSeq.end; ) {
          const item = readTlv(der, a, akiSeq.end);
          a = item.end;
          if (item.tag === 0x80) return { aki: der.subarray(item.start, item.end), serial };
        }
      }
    }
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'computing ARI CertID: reading certificate', { cause: err });
  }
  throw new MyServerError('MS_ERR_X509', 'computing ARI CertID: certificate has no Authority Key Identifier keyIdentifier');
}

function readTlv(buf: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new Error(`truncated DER at ${pos}`);
  const tag = buf[pos] as number;
  let len = buf[pos + 1] as number;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error(`unsupported DER length at ${pos}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    start += n;
  }
  if (start + len > limit) throw new Error(`DER value overruns its container at ${pos}`);
  return { tag, start, end: start + len };
}
