/**
 * Subject names as they go into certificates: DNS names and IP address literals. The one place
 * that turns an IP literal into iPAddress bytes and back.
 */
import { isIP, SocketAddress } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { MyServerError } from '../errors.ts';

/** Brackets around an IPv6 literal ("[::1]", as in URLs and Host headers) are accepted and dropped. */
function unbracket(name: string): string {
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  // node:net accepts zone identifiers ("fe80::1%eth0"); an iPAddress SAN has no room for one.
  return bare.includes('%') ? '' : bare;
}

/** True for an IPv4 or IPv6 literal (zone identifiers such as "fe80::1%eth0" are not addresses of a certificate). */
export function isIpAddress(name: string): boolean {
  return isIP(unbracket(name)) !== 0;
}

/**
 * The canonical text of an IP literal: IPv4 dotted quad, IPv6 in RFC 5952 form ("2001:db8::1",
 * lower case, longest zero run compressed). Undefined when `name` is not an IP literal.
 */
export function normalizeIpAddress(name: string): string | undefined {
  const bare = unbracket(name);
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family === 6) return new SocketAddress({ address: bare, family: 'ipv6' }).address;
  return undefined;
}

/** The 4 or 16 bytes of an iPAddress GeneralName (RFC 5280 §4.2.1.6). */
export function ipAddressBytes(name: string): Buffer {
  const bare = unbracket(name);
  const family = isIP(bare);
  if (family === 4) return Buffer.from(bare.split('.').map(Number));
  if (family !== 6) throw new MyServerError('MS_ERR_X509', `"${name}" is not an IP address`);
  let text = bare;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (isIP(maybeV4) === 4) {
    // An embedded IPv4 tail ("::ffff:1.2.3.4") stands for the last two groups.
    tail.push(...maybeV4.split('.').map(Number));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...restGroups].map((g) => parseInt(g, 16));
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(bytes, 12);
  return bytes;
}

/** The canonical text of iPAddress bytes; undefined for lengths other than 4 and 16 (e.g. name-constraint ranges). */
export function ipAddressText(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return normalizeIpAddress(groups.join(':'));
}

/**
 * Whether an "xn--" label is a real A-label: its punycode decodes (RFC 3492) to a U-label that
 * UTS-46 accepts and that encodes back to the same label (RFC 5891 §5.4 asks registries and
 * applications to check exactly this round trip). Node's domainToUnicode is WHATWG's UTS-46
 * processing; it hands back an undecodable label unchanged, e.g. "xn--zz", "xn--a".
 */
export function isValidALabel(label: string): boolean {
  const unicode = domainToUnicode(label);
  return unicode !== '' && unicode !== label && !unicode.includes('.') && domainToASCII(unicode) === label;
}

/**
 * Splits names into DNS names (lower-cased, without a trailing dot) and IP addresses (canonical),
 * in the given order, without duplicates. Rejects names that cannot be put in a certificate.
 */
export function classifyNames(names: readonly string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of names) {
    const ip = normalizeIpAddress(name);
    if (ip !== undefined) {
      if (!ipAddresses.includes(ip)) ipAddresses.push(ip);
      continue;
    }
    const dns = name.toLowerCase().replace(/\.$/, '');
    // dNSName is an IA5String (RFC 5280 §4.2.1.6); a leading "*." is the only wildcard form CAs accept.
    if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(dns) || dns.length > 253) {
      throw new MyServerError('MS_ERR_X509', `"${name}" is neither a DNS name nor an IP address`);
    }
    // The last check before a name goes into a CSR or a local certificate: an "xn--" label must be
    // punycode that decodes to a valid U-label and back (RFC 5891 §5.4), never bytes a CA would
    // refuse (or, worse, a client would display as something else).
    const bad = dns.split('.').find((l) => l.startsWith('xn--') && !isValidALabel(l));
    if (bad !== undefined) throw new MyServerError('MS_ERR_X509', `"${name}": "${bad}" is not a valid IDNA A-label`);
    if (!dnsNames.includes(dns)) dnsNames.push(dns);
  }
  return { dnsNames, ipAddresses };
}
