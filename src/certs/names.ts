import { isIP } from 'node:net';

/**
 * A name as it is matched and stored: lower case, no trailing dot, IPv6 without brackets.
 * Returns undefined for something that is neither a DNS name (optionally with one leading
 * wildcard label) nor an IP literal, e.g. "a..b", "-a.test", "a b".
 */
export function normalizeName(raw: string): string | undefined {
  let n = raw.trim().toLowerCase();
  if (n.startsWith('[') && n.endsWith(']')) n = n.slice(1, -1);
  if (isIP(n)) return n;
  if (n.endsWith('.')) n = n.slice(0, -1);
  if (n.length === 0 || n.length > 253) return undefined;
  const labels = n.split('.');
  for (const [i, label] of labels.entries()) {
    if (label === '*' && i === 0 && labels.length > 1) continue;
    if (!/^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label)) return undefined;
  }
  return n;
}

const LOCAL_SUFFIXES = ['.localhost', '.internal', '.local', '.home.arpa'];

/**
 * Names no public CA will issue for, so they get the built-in local CA (SPEC.md, "Behaviour every
 * user can count on"): localhost, IP addresses, *.localhost, *.internal, *.local.
 */
export function isLocalOnlyName(name: string): boolean {
  if (name === 'localhost' || isIP(name)) return true;
  return LOCAL_SUFFIXES.some((s) => name.endsWith(s));
}
