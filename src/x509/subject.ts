/**
 * What a certificate or CSR says it is for: the subject Name and the subjectAltName extension
 * (RFC 5280 §4.1.2.6, §4.2.1.6), built with @peculiar/x509. Internal to x509/.
 */
import { ipAddressBytes } from './names.ts';
import { x509 } from './peculiar.ts';

/** RFC 5280 §4.1.2.6 caps a commonName at 64 characters (ub-common-name). */
const MAX_COMMON_NAME = 64;

/** The common name a certificate for `dnsNames` carries: the first DNS name when it fits, else none. */
export function commonNameFor(dnsNames: readonly string[]): string | undefined {
  const first = dnsNames[0];
  return first !== undefined && first.length <= MAX_COMMON_NAME ? first : undefined;
}

/**
 * A Name with at most one RDN, the commonName as a UTF8String; no common name gives the empty Name.
 * The JSON form with an explicit string type keeps the library from reading the value as an
 * RFC 4514 string (where a leading "#" would mean hex).
 */
export function subjectName(commonName?: string): x509.Name {
  return new x509.Name(commonName === undefined ? [] : [{ CN: [{ utf8String: commonName }] }]);
}

/**
 * SubjectAltName with dNSName and iPAddress entries. RFC 5280 §4.2.1.6: "If the subject field
 * contains an empty sequence, then the issuing CA MUST include a subjectAltName extension that is
 * marked as critical", so pass `critical` = true for an empty subject.
 */
export function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly string[], critical: boolean): x509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(
    [...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...ipAddresses.map((ip) => ({ type: 'ip' as const, value: ipForLibrary(ip) }))],
    critical,
  );
}

/**
 * An IP literal in the one form the library's parser reads right: IPv4 dotted, IPv6 as all eight
 * groups. It expands "::" but reads an embedded IPv4 tail ("::ffff:1.2.3.4", RFC 5952's form for
 * mapped addresses) as hex, silently, so names.ts makes the bytes and the groups come from them.
 */
function ipForLibrary(ip: string): string {
  const bytes = ipAddressBytes(ip);
  if (bytes.length === 4) return ip;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}
