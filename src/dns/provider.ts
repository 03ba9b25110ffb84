/**
 * The DNS provider seam, shaped like libdns (github.com/libdns/libdns): a provider appends and
 * deletes records in a zone, and knows nothing of ACME. One file per provider in this folder; the
 * registry (providers.ts) builds one from its config. The DNS-01 solver (solver.ts) is the only
 * caller.
 */
import type { DnsServer } from './wire.ts';

export interface DnsRecord {
  /** Relative to the zone (`_acme-challenge.www`), `@` for the apex; as libdns names it. */
  readonly name: string;
  readonly type: 'TXT';
  readonly value: string;
  readonly ttlSeconds: number;
}

/**
 * Implementations MUST be safe for concurrent use (a wildcard and its base name present at the
 * same name at once) and MUST leave other records at the name alone: append adds values, delete
 * removes exactly the values given. Deleting a record that is not there is not an error. Both
 * reject with an error naming the provider and what it answered.
 */
export interface DnsProvider {
  /** The provider's module name (`rfc2136`, `exec`…), for logs. */
  readonly name: string;
  /** `zone` is fully qualified, with a trailing dot (`example.com.`). */
  appendRecords(zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void>;
  deleteRecords(zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void>;
}

/**
 * A provider that talks to the zone's primary server itself (rfc2136): with no `resolvers`
 * configured, zone discovery and the propagation check ask that server directly.
 */
export interface PrimaryServer {
  readonly primary: DnsServer;
}

export function hasPrimary(p: DnsProvider): p is DnsProvider & PrimaryServer {
  return (p as Partial<PrimaryServer>).primary !== undefined;
}

/**
 * A provider that writes at a name of its own choosing (acme-dns: the account's subdomain), not in
 * the zone of the challenge name: the solver skips zone discovery for it.
 */
export interface FixedTarget {
  readonly fixedTarget: true;
}

export function hasFixedTarget(p: DnsProvider): p is DnsProvider & FixedTarget {
  return (p as Partial<FixedTarget>).fixedTarget === true;
}

/** `name` (fully qualified, no trailing dot) relative to `zone` (trailing dot), `@` for the apex. */
export function relativeName(name: string, zone: string): string {
  const z = zone.replace(/\.$/, '').toLowerCase();
  const n = name.replace(/\.$/, '').toLowerCase();
  if (n === z) return '@';
  if (!n.endsWith(`.${z}`)) throw new Error(`${n} is not in zone ${zone}`);
  return n.slice(0, -(z.length + 1));
}

/** The fully qualified name (no trailing dot) of a record of `zone`. */
export function absoluteName(record: Pick<DnsRecord, 'name'>, zone: string): string {
  const z = zone.replace(/\.$/, '');
  return record.name === '@' ? z : `${record.name}.${z}`;
}
