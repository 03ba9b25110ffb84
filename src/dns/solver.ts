/**
 * The DNS-01 solver (RFC 8555 §8.4) behind the ACME flow's Solver seam: writes the TXT record
 * through a DNS provider, waits until the zone's servers serve it, and removes it once the
 * authorization has settled (valid or not). Every record written is first remembered in storage,
 * so one left behind by a crash is removed at the next start (cleanupLeftovers).
 *
 * A wildcard and its base name share `_acme-challenge.<base>`: each presents its own value there,
 * and each cleanup deletes only its own (providers delete exactly the values given).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { dns01RecordName, dns01TxtValue } from '../acme/dns01.ts';
import type { ChallengeInfo, Solver } from '../acme/solver.ts';
import { MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { DnsLookup, systemResolvers, txtValues } from './lookup.ts';
import { hasFixedTarget, hasPrimary, relativeName, type DnsProvider, type DnsRecord } from './provider.ts';
import { formatServer, type DnsServer } from './wire.ts';

export interface Dns01SolverOptions {
  readonly provider: DnsProvider;
  /**
   * Identifies the provider's account among those that may share a storage (no secrets): a left
   * record is removed only by a solver with the same identity.
   */
  readonly identity: string;
  readonly storage: Storage;
  readonly log: Logger;
  /** Wait before the first propagation check. Default 0. */
  readonly propagationDelayMs?: number;
  /** How long to wait for every server to serve the value; -1 skips the check. Default 2 minutes (Caddy's). */
  readonly propagationTimeoutMs?: number;
  /** Servers for CNAME following, zone discovery and the propagation check, instead of the authoritative ones. */
  readonly resolvers?: readonly DnsServer[];
  readonly ttlSeconds?: number;
  /** Between propagation checks. Default 2 s. */
  readonly pollIntervalMs?: number;
  /** Age after which a remembered record of a live process counts as left behind. Default 15 minutes. */
  readonly leftoverAfterMs?: number;
}

/** Where remembered records live: one key per record written. */
export const PRESENTED_PREFIX = 'acme-dns01/presented';
const DEFAULT_PROPAGATION_TIMEOUT_MS = 120_000;
/** certmagic's TTL for challenge records: short, since the record lives for minutes at most. */
const DEFAULT_TTL_SECONDS = 120;
const DEFAULT_POLL_MS = 2_000;
/**
 * A validation lasts at most the propagation timeout plus the ACME flow's authorization wait (2 min
 * + 90 s by default): a record of a running process older than 15 minutes is no longer in use.
 */
const LEFTOVER_AFTER_MS = 15 * 60_000;

interface Presented {
  readonly identity: string;
  readonly zone: string;
  readonly record: DnsRecord;
  /** When it was written (ms since the epoch). */
  readonly at: number;
  /** Which process wrote it: one still running may be validating with it. */
  readonly host: string;
  readonly pid: number;
}

export class Dns01Solver implements Solver {
  readonly #o: Dns01SolverOptions;
  readonly #active = new Map<string, { key: string; presented: Presented }>();
  /** Record name → writes in flight there (settled when written or failed); see present(). */
  readonly #writing = new Map<string, Set<Promise<void>>>();

  constructor(options: Dns01SolverOptions) {
    this.#o = options;
  }

  async present(challenge: ChallengeInfo, signal?: AbortSignal): Promise<void> {
    if (challenge.type !== 'dns-01') throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `the DNS-01 solver cannot answer ${challenge.type}`);
    // RFC 8738 §7: "The existing "dns-01" challenge MUST NOT be used to validate IP identifiers."
    if (challenge.identifier.type !== 'dns') throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `DNS-01 cannot validate the IP address ${challenge.identifier.value}`);
    const o = this.#o;
    const name = dns01RecordName(challenge.identifier.value);
    const value = dns01TxtValue(challenge.keyAuthorization);
    const lookup = new DnsLookup(this.#discoveryServers());
    // A wildcard and its base name share the name. A CA's resolver that caches the first answer
    // (one value) would not see the second value written moments later, so every write to a name
    // that has started waits for the others before the challenge is answered: the first answer
    // the CA gets holds them all. (Presenting every challenge of an order before answering any,
    // as acmez does, would cover writes that start later; that is the ACME flow's to do.)
    let written!: () => void;
    const mine = new Promise<void>((resolve) => (written = resolve));
    const group = this.#writing.get(name) ?? new Set<Promise<void>>();
    group.add(mine);
    this.#writing.set(name, group);
    let where: { target: string; zone: string };
    try {
      where = await this.#write(challenge, name, value, lookup, signal);
    } finally {
      written();
    }
    await Promise.all([...group]);
    group.delete(mine);
    if (group.size === 0) this.#writing.delete(name);
    const { target, zone } = where;
    if (o.propagationDelayMs !== undefined && o.propagationDelayMs > 0) await delay(o.propagationDelayMs, undefined, signal ? { signal } : {});
    if ((o.propagationTimeoutMs ?? DEFAULT_PROPAGATION_TIMEOUT_MS) >= 0) await this.#awaitPropagation(lookup, zone, target, value, signal);
  }

  /** Finds where the record goes (CNAME, zone), remembers it, writes it; resolves with where. */
  async #write(challenge: ChallengeInfo, name: string, value: string, lookup: DnsLookup, signal: AbortSignal | undefined): Promise<{ target: string; zone: string }> {
    const o = this.#o;
    const checking = (o.propagationTimeoutMs ?? DEFAULT_PROPAGATION_TIMEOUT_MS) >= 0;
    // A provider writing at a name of its own (acme-dns) needs the DNS only for the check.
    const fixed = hasFixedTarget(o.provider);
    let zone = '.';
    let target = name;
    if (!fixed || checking) {
      target = await lookup.followCname(name, signal);
      zone = await lookup.zoneOf(target, signal);
    }
    const record: DnsRecord = { name: fixed ? target : relativeName(target, zone), type: 'TXT', value, ttlSeconds: o.ttlSeconds ?? DEFAULT_TTL_SECONDS };
    const presented: Presented = { identity: o.identity, zone, record, at: Date.now(), host: hostname(), pid: process.pid };
    // Remembered before it is written: a crash in between leaves a memo whose cleanup deletes nothing.
    const key = `${PRESENTED_PREFIX}/${createHash('sha256').update(`${o.identity}\n${zone}\n${record.name}\n${value}`).digest('hex').slice(0, 32)}.json`;
    // Marked active first, so a concurrent cleanupLeftovers never takes it for a leftover.
    this.#active.set(activeKey(challenge), { key, presented });
    await o.storage.put(key, JSON.stringify(presented));
    await o.provider.appendRecords(zone, [record], signal);
    o.log.info({ name: target, zone, provider: o.provider.name, ...(target !== name ? { delegatedFrom: name } : {}) }, 'DNS-01 record presented');
    return { target, zone };
  }

  async cleanup(challenge: ChallengeInfo): Promise<void> {
    const entry = this.#active.get(activeKey(challenge));
    if (entry === undefined) return;
    this.#active.delete(activeKey(challenge));
    await this.#remove(entry.key, entry.presented);
  }

  /**
   * Removes the records of this provider that an earlier process wrote and never removed (it
   * crashed or was killed mid-validation). Returns how many were removed; a failure to remove one
   * is logged and the memo kept for the next start.
   */
  async cleanupLeftovers(signal?: AbortSignal): Promise<number> {
    const keys = await this.#o.storage.list(PRESENTED_PREFIX);
    let removed = 0;
    for (const key of keys) {
      const raw = await this.#o.storage.get(key);
      if (raw === undefined) continue;
      let p: Presented;
      try {
        p = JSON.parse(raw.toString('utf8')) as Presented;
      } catch {
        continue;
      }
      if (p.identity !== this.#o.identity || [...this.#active.values()].some((a) => a.key === key)) continue;
      if (!this.#abandoned(p)) continue;
      try {
        await this.#remove(key, p, signal);
        removed++;
      } catch (err) {
        this.#o.log.warn({ err, zone: p.zone, name: p.record.name }, 'removing a DNS-01 record left by an earlier run failed; trying again at the next start');
      }
    }
    return removed;
  }

  /**
   * A record is a leftover when the process that wrote it is gone (same host, pid not running), or
   * when it is older than any validation lasts (another host's, or a reload's predecessor here).
   */
  #abandoned(p: Presented): boolean {
    if (Date.now() - p.at >= (this.#o.leftoverAfterMs ?? LEFTOVER_AFTER_MS)) return true;
    if (p.host !== hostname() || p.pid === process.pid) return false;
    try {
      process.kill(p.pid, 0);
      return false;
    } catch {
      return true;
    }
  }

  async #remove(key: string, p: Presented, signal?: AbortSignal): Promise<void> {
    await this.#o.provider.deleteRecords(p.zone, [p.record], signal);
    await this.#o.storage.delete(key);
    this.#o.log.info({ zone: p.zone, name: p.record.name, provider: this.#o.provider.name }, 'DNS-01 record removed');
  }

  /** Configured resolvers; else the provider's primary (rfc2136); else the system's. */
  #discoveryServers(): readonly DnsServer[] {
    if (this.#o.resolvers !== undefined && this.#o.resolvers.length > 0) return this.#o.resolvers;
    if (hasPrimary(this.#o.provider)) return [this.#o.provider.primary];
    return systemResolvers();
  }

  /** Until every server to ask serves `value` at `name`, or the propagation timeout. */
  async #awaitPropagation(lookup: DnsLookup, zone: string, name: string, value: string, signal: AbortSignal | undefined): Promise<void> {
    const o = this.#o;
    const timeoutMs = o.propagationTimeoutMs ?? DEFAULT_PROPAGATION_TIMEOUT_MS;
    const servers =
      o.resolvers !== undefined && o.resolvers.length > 0 ? o.resolvers
      : hasPrimary(o.provider) ? [o.provider.primary]
      : await lookup.authoritativeServers(zone, signal);
    const deadline = Date.now() + timeoutMs;
    let missing: DnsServer[] = [...servers];
    /** Why each server last failed to show the value, for the timeout's message. */
    const why = new Map<DnsServer, string>();
    for (;;) {
      const still: DnsServer[] = [];
      for (const s of missing) {
        let values: string[];
        try {
          values = await txtValues(s, name, signal);
          why.set(s, values.length === 0 ? 'no TXT record' : `${values.length} other TXT value(s)`);
        } catch (err) {
          if (signal?.aborted === true) throw err;
          values = [];
          why.set(s, err instanceof Error ? err.message : String(err));
        }
        if (!values.includes(value)) still.push(s);
      }
      missing = still;
      if (missing.length === 0) return;
      if (Date.now() >= deadline) {
        throw new MyServerError(
          'MS_ERR_CHALLENGE_FAILED',
          `DNS-01: the TXT record at ${name} is not served by ${missing.map((s) => `${formatServer(s)} (${why.get(s) ?? 'not asked'})`).join(', ')} after ${timeoutMs} ms (propagation_timeout)`,
        );
      }
      await delay(Math.min(o.pollIntervalMs ?? DEFAULT_POLL_MS, Math.max(0, deadline - Date.now())), undefined, signal ? { signal } : {});
    }
  }
}

const activeKey = (c: ChallengeInfo): string => `${c.identifier.value}\n${c.token}`;
