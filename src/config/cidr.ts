/** Address ranges as the Proxyfile writes them (`trusted_proxies`); matched at run time by util/ip-ranges.ts. */
import { isIP } from 'node:net';

/** Caddy's `private_ranges` shorthand (internal.PrivateRangesCIDR), in Caddy's order. */
export const PRIVATE_RANGES: readonly string[] = ['192.168.0.0/16', '172.16.0.0/12', '10.0.0.0/8', '127.0.0.1/8', 'fd00::/8', '::1'];

/**
 * An address or CIDR as Go's netip.ParsePrefix / ParseAddr take it: `10.0.0.0/8`, `127.0.0.1/8`
 * (host bits may be set), `::1`, `2001:db8::/32`. A bare address is its own /32 or /128.
 * Returns a reason when `text` is neither.
 */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return `"${address}" is not an IP address`;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `prefix length "/${bits}" must be 0-${max}`;
  return { address, prefix: Number(bits), family };
}
