/**
 * Site addresses: `[scheme://]host[:port]` with the Caddyfile's forms — `example.com`,
 * `*.example.com`, `example.com:8443`, `http://example.com`, `https://`, `:443`, `localhost`,
 * `127.0.0.1`, `[::1]`. Paths and placeholders are not supported.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { configError, posOf } from './errors.ts';
import type { Token } from './lexer.ts';
import type { SiteAddress } from './types.ts';

/** A site address before the global ports are known. */
export type ParsedAddress = Omit<SiteAddress, 'protocol' | 'listenPort'>;

export function parseSiteAddress(tok: Token): ParsedAddress {
  const original = tok.text;
  const fail = (why: string): never => {
    throw configError(tok, `invalid site address "${original}": ${why}`);
  };
  if (/[{}]/.test(original)) fail('placeholders are not allowed in site addresses');
  let rest = original;
  let scheme: 'http' | 'https' | undefined;
  const sep = rest.indexOf('://');
  if (sep >= 0) {
    const s = rest.slice(0, sep).toLowerCase();
    if (s !== 'http' && s !== 'https') fail(`unsupported scheme "${rest.slice(0, sep)}" (use http:// or https://)`);
    scheme = s as 'http' | 'https';
    rest = rest.slice(sep + 3);
  }
  if (rest.includes('/')) fail('paths in site addresses are not supported (use handle or handle_path)');

  let hostPart: string;
  let portPart: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) fail("missing ']' after an IPv6 address");
    hostPart = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) fail(`unexpected "${after}" after ']'`);
    if (!isIPv6(hostPart)) fail(`"${hostPart}" is not an IPv6 address`);
    if (after !== '') portPart = after.slice(1);
  } else {
    const colons = rest.split(':').length - 1;
    if (colons > 1) fail('IPv6 addresses must be written in brackets, as in [::1]');
    const colon = rest.indexOf(':');
    hostPart = colon < 0 ? rest : rest.slice(0, colon);
    if (colon >= 0) portPart = rest.slice(colon + 1);
  }
  let port: number | undefined;
  if (portPart !== undefined) {
    if (portPart === '') fail("missing port after ':'");
    if (!/^\d+$/.test(portPart)) fail(`port "${portPart}" is not a number`);
    port = Number(portPart);
    if (port < 1 || port > 65535) fail(`port ${portPart} is out of range 1-65535`);
  }
  const host = hostPart.includes(':') ? hostPart.toLowerCase() : normalizeHostname(hostPart, fail);
  if (host === '' && scheme === undefined && port === undefined) fail('empty address');
  const result: ParsedAddress = {
    original,
    ...(scheme !== undefined ? { scheme } : {}),
    host,
    ...(port !== undefined ? { port } : {}),
    wildcard: host.startsWith('*.'),
    pos: posOf(tok),
  };
  return result;
}

function normalizeHostname(raw: string, fail: (why: string) => never): string {
  let host = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (host === '') return '';
  if (isIPv4(host)) return host;
  const labels = host.split('.');
  let seenName = false;
  for (const label of labels) {
    if (label === '*') {
      if (seenName) fail('a wildcard must be a whole leftmost label, as in *.example.com');
      continue;
    }
    seenName = true;
    if (label.includes('*')) fail('a wildcard must be a whole leftmost label, as in *.example.com');
  }
  if (!seenName) fail('a wildcard needs a domain after it, as in *.example.com');
  if (labels.every((l) => /^\d+$/.test(l))) fail(`"${host}" is not a valid IPv4 address`);
  const wildcards = labels.filter((l) => l === '*').length;
  const name = labels.slice(wildcards).join('.');
  // U-labels become A-labels here, once (UTS-46, as browsers map them): SNI and certificates carry
  // only ASCII (RFC 6066 §3, RFC 5890 §2.3.2.1), so "bücher.example" is served as
  // "xn--bcher-kva.example".
  const ascii = domainToASCII(name.toLowerCase());
  if (ascii === '' || ascii.split('.').some((l) => l === '' || l.length > 63 || !/^[a-z0-9_-]+$/.test(l))) {
    fail(`"${raw}" is not a valid host name`);
  }
  // domainToASCII passes an undecodable "xn--" label through unchanged; the CA would refuse it.
  const badALabel = ascii.split('.').find((l) => l.startsWith('xn--') && !isValidALabel(l));
  if (badALabel !== undefined) fail(`"${badALabel}" is not valid punycode (an IDNA A-label must decode to a valid U-label)`);
  host = [...labels.slice(0, wildcards), ascii].join('.');
  if (host.length > 253) fail('host name is longer than 253 characters');
  return host;
}

/**
 * An "xn--" label that decodes to a U-label which encodes back to the same label (RFC 5891 §5.4).
 * config/ imports nothing else of ours, so this twin of certs/names.ts isValidALabel lives here.
 */
function isValidALabel(label: string): boolean {
  const unicode = domainToUnicode(label);
  return unicode !== '' && unicode !== label && !unicode.includes('.') && domainToASCII(unicode) === label;
}
