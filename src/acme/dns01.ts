/**
 * The DNS-01 challenge's two derived values (RFC 8555 §8.4). Pure: the records are written by a
 * DNS provider outside acme/ (src/dns/), behind the Solver seam.
 */
import { createHash } from 'node:crypto';

/**
 * "The client constructs the validation domain name by prepending the label "_acme-challenge" to
 * the domain name being validated" (§8.4). A wildcard's authorization is for the base name
 * ("the "*." prefix [is] removed", §7.1.3), so `*.example.com` and `example.com` share one name.
 */
export function dns01RecordName(domain: string): string {
  const base = domain.startsWith('*.') ? domain.slice(2) : domain;
  return `_acme-challenge.${base.replace(/\.$/, '').toLowerCase()}`;
}

/**
 * "... then computes the SHA-256 digest [FIPS180-4] of the key authorization. The record provisioned
 * to the DNS contains the base64url encoding of this digest." (§8.4)
 */
export function dns01TxtValue(keyAuthorization: string): string {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest('base64url');
}
