/**
 * DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945): works with BIND, Knot and PowerDNS. Named and
 * configured as caddy-dns/rfc2136: `rfc2136 { key_name K; key_alg hmac-sha256; key SECRET; server HOST:PORT }`.
 */
import dnsPacket from 'dns-packet';
import { MyServerError } from '../errors.ts';
import { absoluteName, type DnsProvider, type DnsRecord, type PrimaryServer } from './provider.ts';
import { signMessage, TSIG_ERRORS, verifyAnswer, type TsigKey } from './tsig.ts';
import { exchange, formatServer, newId, rcodeOf, recordOffsets, setRecordClass, type DnsServer } from './wire.ts';

export interface Rfc2136Options {
  readonly server: DnsServer;
  readonly key: TsigKey;
}

/** RFC 2136 §2.5.4: "Delete An RR From An RRset": CLASS NONE, TTL 0, the RDATA to remove. */
const CLASS_NONE = 254;

export class Rfc2136Provider implements DnsProvider, PrimaryServer {
  readonly name = 'rfc2136';
  readonly primary: DnsServer;
  readonly #key: TsigKey;

  constructor(options: Rfc2136Options) {
    this.primary = options.server;
    this.#key = options.key;
  }

  appendRecords(zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void> {
    return this.#update(zone, records, false, signal);
  }

  deleteRecords(zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void> {
    return this.#update(zone, records, true, signal);
  }

  /**
   * One UPDATE message for all the records (RFC 2136 §3.4: the server applies the update section
   * atomically). The zone section names the zone with type SOA (§2.3).
   */
  async #update(zone: string, records: readonly DnsRecord[], remove: boolean, signal: AbortSignal | undefined): Promise<void> {
    if (records.length === 0) return;
    const what = `${remove ? 'deleting' : 'adding'} TXT ${records.map((r) => absoluteName(r, zone)).join(', ')} in zone ${zone} via rfc2136 server ${formatServer(this.primary)}`;
    const msg = dnsPacket.encode({
      type: 'query',
      id: newId(),
      // OPCODE UPDATE (5) in bits 11-14 of the flags (RFC 2136 §2.2).
      flags: 5 << 11,
      questions: [{ name: zone.replace(/\.$/, ''), type: 'SOA', class: 'IN' }],
      authorities: records.map((r) => ({
        name: absoluteName(r, zone),
        type: 'TXT' as const,
        class: 'IN' as const,
        ttl: remove ? 0 : r.ttlSeconds,
        data: r.value,
      })),
    });
    if (remove) for (const offset of recordOffsets(msg)) setRecordClass(msg, offset, CLASS_NONE);
    const signed = signMessage(msg, this.#key);
    let answer: Buffer;
    try {
      answer = await exchange(this.primary, signed.message, { tcp: true, signal });
    } catch (err) {
      throw new MyServerError('MS_ERR_CHALLENGE_FAILED', what, { cause: err });
    }
    const rcode = answer.readUInt16BE(2) & 0xf;
    let tsig;
    try {
      tsig = verifyAnswer(answer, this.#key, signed.mac);
    } catch (err) {
      throw new MyServerError('MS_ERR_CHALLENGE_FAILED', what, { cause: err });
    }
    if (rcode !== 0) {
      const rcodeName = rcodeOf(answer);
      const tsigError = tsig !== undefined && tsig.error !== 0 ? ` (TSIG error ${TSIG_ERRORS[tsig.error] ?? tsig.error})` : '';
      throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `${what}: the server answered ${rcodeName}${tsigError}`);
    }
    // A successful answer to a signed request must be signed (RFC 8945 §5.3): an unsigned one could be anyone's.
    if (tsig?.verified !== true) throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `${what}: the server's answer is not signed with the key`);
  }
}
