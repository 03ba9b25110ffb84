/**
 * What the DNS-01 solver asks the DNS before and after writing a record: where a challenge name
 * really lives (CNAME following, for delegated `_acme-challenge` names), which zone holds it (SOA
 * walk), which servers are authoritative for that zone, and whether they all serve a TXT value yet.
 */
import { getServers } from 'node:dns';
import type dnsPacket from 'dns-packet';
import { MyServerError } from '../errors.ts';
import { dataOf, formatServer, parseServer, query, type DnsServer, type QueryAnswer } from './wire.ts';

/** Enough for any sane delegation; a loop of CNAMEs stops here. */
const MAX_CNAME_HOPS = 8;

const lower = (n: string): string => n.replace(/\.$/, '').toLowerCase();

/** The machine's own resolvers (/etc/resolv.conf), as node:dns reads them. */
export function systemResolvers(): DnsServer[] {
  return getServers().flatMap((text): DnsServer[] => {
    const s = parseServer(text);
    return s === undefined ? [] : [s];
  });
}

export class DnsLookup {
  readonly #servers: readonly DnsServer[];

  /** `servers`: whom to ask, in order; the first that answers wins. */
  constructor(servers: readonly DnsServer[]) {
    if (servers.length === 0) throw new MyServerError('MS_ERR_CHALLENGE_FAILED', 'DNS-01: no DNS server to ask (no resolvers configured and none in /etc/resolv.conf)');
    this.#servers = servers;
  }

  async #ask(name: string, type: dnsPacket.RecordType, signal?: AbortSignal): Promise<QueryAnswer> {
    let last: unknown;
    for (const s of this.#servers) {
      try {
        const a = await query(s, name, type, { signal });
        if (a.rcode === 'NOERROR' || a.rcode === 'NXDOMAIN') return a;
        last = new MyServerError('MS_ERR_CHALLENGE_FAILED', `asking ${formatServer(s)} for ${type} ${name}: ${a.rcode}`);
      } catch (err) {
        if (signal?.aborted === true) throw err;
        last = err;
      }
    }
    throw last;
  }

  /** The end of the CNAME chain starting at `name` (the name itself when it has no CNAME). */
  async followCname(name: string, signal?: AbortSignal): Promise<string> {
    let current = lower(name);
    const seen = new Set([current]);
    for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
      const a = await this.#ask(current, 'TXT', signal);
      // The answer may hold the whole chain (a server authoritative for every zone on it).
      let moved = false;
      for (;;) {
        const c = a.answers.find((r) => r.type === 'CNAME' && lower(r.name) === current);
        if (c === undefined) break;
        current = lower(dataOf(c) as string);
        if (seen.has(current)) throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `DNS-01: CNAME loop at ${current} (from ${name})`);
        seen.add(current);
        moved = true;
      }
      if (!moved) return current;
    }
    throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `DNS-01: more than ${MAX_CNAME_HOPS} CNAMEs from ${name}`);
  }

  /**
   * The zone holding `name`, with a trailing dot: the owner of the SOA record an authoritative
   * answer carries, walking up one label at a time until a server names one.
   */
  async zoneOf(name: string, signal?: AbortSignal): Promise<string> {
    const labels = lower(name).split('.');
    let last: unknown;
    for (let i = 0; i < labels.length; i++) {
      const candidate = labels.slice(i).join('.');
      let a: QueryAnswer;
      try {
        a = await this.#ask(candidate, 'SOA', signal);
      } catch (err) {
        // A server that is not authoritative refuses names outside its zones: try the parent.
        if (signal?.aborted === true) throw err;
        last = err;
        continue;
      }
      const soa = [...a.answers, ...a.authorities].find((r) => r.type === 'SOA');
      if (soa !== undefined) return `${lower(soa.name)}.`;
    }
    const why = last === undefined ? '' : ` (last: ${last instanceof Error ? last.message : String(last)})`;
    throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `DNS-01: no zone (SOA) found for ${name} via ${this.#servers.map(formatServer).join(', ')}${why}`);
  }

  /** The addresses of `zone`'s name servers (NS, then their A and AAAA records). */
  async authoritativeServers(zone: string, signal?: AbortSignal): Promise<DnsServer[]> {
    const ns = await this.#ask(lower(zone), 'NS', signal);
    const hosts = ns.answers.filter((r) => r.type === 'NS').map((r) => lower(dataOf(r) as string));
    const servers: DnsServer[] = [];
    for (const host of hosts) {
      for (const type of ['A', 'AAAA'] as const) {
        const a = await this.#ask(host, type, signal).catch(() => undefined);
        for (const r of a?.answers ?? []) if (r.type === type) servers.push({ host: dataOf(r) as string, port: 53 });
      }
    }
    if (servers.length === 0) throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `DNS-01: no name server addresses found for zone ${zone}`);
    return servers;
  }
}

/** The TXT values at `name` on `server` (character-strings of one record joined, RFC 8555 §8.4 values fit one). */
export async function txtValues(server: DnsServer, name: string, signal?: AbortSignal): Promise<string[]> {
  const a = await query(server, lower(name), 'TXT', { signal });
  return a.answers
    .filter((r) => r.type === 'TXT' && lower(r.name) === lower(name))
    .map((r) => {
      const data = dataOf(r) as Buffer | Buffer[] | string;
      if (Array.isArray(data)) return data.map((b) => b.toString('utf8')).join('');
      return typeof data === 'string' ? data : data.toString('utf8');
    });
}
