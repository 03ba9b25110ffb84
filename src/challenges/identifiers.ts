/**
 * Turning what arrives on the wire (an SNI server name, a Host header) and what the CA names (an
 * ACME identifier) into one comparable form: DNS names lower-cased without a trailing dot, IP
 * addresses in canonical text. Anything else gives undefined, so a hostile name never reaches a
 * storage key.
 */
import { normalizeIpAddress } from '../x509/names.ts';

const DNS_NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const MAX_DNS_NAME = 253;

function normalizeDnsName(name: string): string | undefined {
  const lower = name.toLowerCase().replace(/\.$/, '');
  return lower.length <= MAX_DNS_NAME && DNS_NAME.test(lower) ? lower : undefined;
}

/** The comparable form of an ACME identifier, or undefined when its value does not fit its type. */
export function identifierKey(identifier: { readonly type: 'dns' | 'ip'; readonly value: string }): string | undefined {
  return identifier.type === 'ip' ? normalizeIpAddress(identifier.value) : normalizeDnsName(identifier.value);
}

/**
 * The identifier an SNI server name asks about. RFC 8738 §6: "the server MUST instead use the
 * IN-ADDR.ARPA [RFC1034] or IP6.ARPA [RFC3596] reverse mapping of the IP address as the HostName
 * field value", so "1.0.0.127.in-addr.arpa" asks about 127.0.0.1.
 */
export function identifierForServerName(servername: string): string | undefined {
  const name = normalizeDnsName(servername);
  if (name === undefined) return undefined;
  const v4 = /^((?:\d{1,3}\.){3}\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (v4?.[1] !== undefined) return normalizeIpAddress(v4[1].split('.').reverse().join('.'));
  const v6 = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(name);
  if (v6?.[1] !== undefined) {
    const nibbles = v6[1].replaceAll('.', '').split('').reverse().join('');
    return normalizeIpAddress(nibbles.replace(/(.{4})(?!$)/g, '$1:'));
  }
  return name;
}

/** The identifier a Host header names: port and IPv6 brackets dropped. Undefined when absent or malformed. */
export function identifierForHost(host: string | undefined): string | undefined {
  if (host === undefined || host === '') return undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    const rest = host.slice(end + 1);
    if (end === -1 || (rest !== '' && !/^:\d+$/.test(rest))) return undefined;
    return normalizeIpAddress(host.slice(1, end));
  }
  if (host.indexOf(':') !== host.lastIndexOf(':')) return normalizeIpAddress(host); // bare IPv6, no port
  const colon = host.indexOf(':');
  const bare = colon !== -1 && /^\d+$/.test(host.slice(colon + 1)) ? host.slice(0, colon) : host;
  return normalizeIpAddress(bare) ?? normalizeDnsName(bare);
}
