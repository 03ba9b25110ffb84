import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { isValidALabel } from '../x509/names.ts';

/**
 * One label of a host name as it may appear in SNI, a certificate or a site address: letters,
 * digits, hyphen (not first or last) and underscore (seen in real internal names; public CAs refuse
 * it, and say so). Only ASCII: RFC 6066 §3, "HostName" is "a byte string using ASCII encoding";
 * an internationalised name travels as A-labels (RFC 5890 §2.3.2.1).
 */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * A name as it is matched and stored: lower case, no trailing dot, IPv6 without brackets.
 * Returns undefined for something that is neither a DNS name (optionally with one leading
 * wildcard label) nor an IP literal, e.g. "a..b", "-a.test", "a b", " a.test", "a\0b.test",
 * "bücher.test" (a U-label: convert it first, see toALabels), "xn--zz.test" (an A-label that is no
 * valid punycode), "fe80::1%eth0" (a zone identifier).
 *
 * This is the check every name from the wire passes (SNI in the ClientHello gate, SNICallback, the
 * certificate manager), so it is strict: nothing is trimmed or decoded, one byte outside the
 * alphabet rejects the whole name rather than a shortened one being looked up.
 */
export function normalizeName(raw: string): string | undefined {
  let n = raw.toLowerCase();
  if (n.startsWith('[') && n.endsWith(']')) n = n.slice(1, -1);
  if (n.includes(':') || /^[0-9.]+$/.test(n)) {
    // An IP literal, or nothing: "1.2.3.999" and "fe80::1%eth0" are neither address nor name.
    return isIP(n) !== 0 && !n.includes('%') ? n : undefined;
  }
  if (n.endsWith('.')) n = n.slice(0, -1);
  if (n.length === 0 || n.length > 253) return undefined;
  const labels = n.split('.');
  for (const [i, label] of labels.entries()) {
    if (label === '*' && i === 0 && labels.length > 1) continue;
    if (!LABEL.test(label)) return undefined;
    if (label.startsWith('xn--') && !isValidALabel(label)) return undefined;
  }
  return n;
}

/** The A-label check of x509/names.ts, the one implementation (CSRs and wire names agree). */
export { isValidALabel } from '../x509/names.ts';

/**
 * A host name written by a person (Proxyfile, command line) in the form the wire carries: U-labels
 * converted to A-labels with UTS-46 (as browsers do), then the checks of normalizeName. Undefined
 * when no valid name results.
 */
export function toALabels(raw: string): string | undefined {
  const n = normalizeName(raw);
  if (n !== undefined || /^[\x20-\x7e]*$/.test(raw)) return n;
  const wildcard = raw.startsWith('*.');
  const ascii = domainToASCII(wildcard ? raw.slice(2) : raw);
  return ascii === '' ? undefined : normalizeName(wildcard ? `*.${ascii}` : ascii);
}

/** True for a DNS name of one label ("test", "intranet"): no public CA issues for one. */
export function isSingleLabel(name: string): boolean {
  return !name.includes('.') && isIP(name) === 0;
}
