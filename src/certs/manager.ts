import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import { describeError, MyServerError } from '../errors.ts';
import { findProblem } from '../acme/problem.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import type { KeyType } from '../x509/keys.ts';
import { backoffDelay, MAX_TIMER_MS } from '../util/backoff.ts';
import { SingleFlight } from '../util/single-flight.ts';
import type { CertificateStore, StoredCertificate } from './certificate-store.ts';
import type { Issuer } from './issuer.ts';
import { needsRenewal, renewalTime } from './meta.ts';
import { normalizeName } from './names.ts';
import { obtainCertificate } from './obtain.ts';
import { publishCertLoaded } from '../metrics/channels.ts';

/** How a name gets its certificate. */
export interface NamePolicy {
  readonly issuer: Issuer;
  readonly keyType: KeyType;
}

export interface CertificateManagerOptions {
  readonly storage: Storage;
  readonly store: CertificateStore;
  readonly log: Logger;
  /**
   * For names not configured explicitly: the policy of the on-demand site covering it, if any, and
   * the permission check (ask, rate limit) that must pass before an order. Functions, so a reload
   * can change both.
   */
  readonly onDemand?: {
    readonly covers: (name: string) => NamePolicy | undefined;
    readonly authorize: (name: string) => Promise<void>;
  };
  /** How long a handshake waits for a certificate being obtained before it fails. */
  readonly handshakeWaitMs?: number;
  /** How often storage is checked for certificates renewed by another process. */
  readonly storageCheckMs?: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly cacheMax?: number;
  /** Extra options for every SecureContext (ciphers, minVersion...). */
  readonly contextOptions?: tls.SecureContextOptions;
}

interface Entry {
  readonly name: string;
  policy: NamePolicy;
  cert?: StoredCertificate;
  context?: tls.SecureContext;
  timer?: NodeJS.Timeout;
  failures: number;
  /** Managed names stay; on-demand ones live in the LRU only. */
  readonly managed: boolean;
  /** No longer configured (or evicted): never scheduled again. */
  removed?: boolean;
}

/**
 * 25 s: Pebble and Let's Encrypt issue in seconds; a browser gives up on a silent handshake soon
 * after; and it must stay below the listener's TLS handshake timeout (30 s, util/timeouts.ts).
 */
const DEFAULT_HANDSHAKE_WAIT_MS = 25_000;
/** How long a name the on-demand policy refused is refused without asking again. */
const ON_DEMAND_REFUSAL_CACHE_MS = 10_000;
/**
 * The least time between two issuances for one name (or a tenth of the lifetime, for short-lived
 * certificates), so a certificate that is due the moment it arrives (an ARI window in the past, a
 * backdated notBefore) cannot cause a loop.
 */
const MIN_RENEWAL_INTERVAL_MS = 60_000;
/** Another instance sharing the store renews too; a minute is soon enough to pick that up. */
const DEFAULT_STORAGE_CHECK_MS = 60_000;
/** Failed issuance retries after 30 s, 1 min, 2 min ... up to 6 h: never a tight loop, never given up. */
const DEFAULT_RETRY_BASE_MS = 30_000;
const DEFAULT_RETRY_MAX_MS = 6 * 3600_000;

/**
 * "Have a valid SecureContext for every name, in time."
 *
 * Lookup order of `secureContextFor(servername)`: the name normalised (lower case, no trailing
 * dot); a managed entry for the exact name; a managed entry for its wildcard (`*.parent`); an
 * on-demand entry in the LRU cache; storage; finally, for names an on-demand site covers and the
 * policy allows, a new certificate. Concurrent lookups of one new name share one issuance (and the
 * storage lock in obtainCertificate makes that one order across processes too). Resolves to
 * undefined when the name is not ours, or when its certificate cannot be had in time.
 *
 * A renewal keeps the old certificate serving until the new one is stored and loaded.
 */
export class CertificateManager {
  readonly #o: CertificateManagerOptions;
  readonly #managed = new Map<string, Entry>();
  readonly #onDemand: LRUCache<string, Entry>;
  readonly #flight = new SingleFlight<Entry>();
  /**
   * On-demand names that just failed (refused by the policy, or issuance failed): handshakes for
   * them fail at once until `until`, so neither the ask endpoint nor the CA sees one request per
   * handshake.
   */
  readonly #failed = new LRUCache<string, { until: number; failures: number }>({ max: 10_000 });
  #storageTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: CertificateManagerOptions) {
    this.#o = options;
    this.#onDemand = new LRUCache<string, Entry>({
      max: options.cacheMax ?? 10_000,
      dispose: (entry) => {
        entry.removed = true;
        clearTimeout(entry.timer);
      },
    });
  }

  /**
   * Replace the set of managed names (start and every reload). New names are obtained in the
   * background, so serving starts at once; names no longer configured stop being renewed.
   */
  manage(names: ReadonlyMap<string, NamePolicy>): void {
    for (const [name, entry] of this.#managed) {
      if (!names.has(name)) {
        entry.removed = true;
        clearTimeout(entry.timer);
        this.#managed.delete(name);
      }
    }
    for (const [name, policy] of names) {
      const existing = this.#managed.get(name);
      if (existing) {
        existing.policy = policy;
        continue;
      }
      const entry: Entry = { name, policy, failures: 0, managed: true };
      this.#managed.set(name, entry);
      this.#schedule(entry, 0);
    }
    if (!this.#storageTimer && !this.#closed) {
      this.#storageTimer = setInterval(() => void this.#checkStorage(), this.#o.storageCheckMs ?? DEFAULT_STORAGE_CHECK_MS);
      this.#storageTimer.unref();
    }
  }

  async secureContextFor(servername: string): Promise<tls.SecureContext | undefined> {
    const name = normalizeName(servername);
    if (name === undefined) return undefined;
    const managed = this.#managed.get(name) ?? this.#managed.get(wildcardOf(name) ?? '');
    if (managed) {
      if (managed.context) return managed.context;
      // After a failure the backoff timer owns the next attempt: handshakes must not turn a failing
      // CA into a tight loop of orders.
      if (managed.failures > 0 && !this.#flight.has(`m:${managed.name}`)) return undefined;
      return this.#wait(this.#ensure(managed), name);
    }
    const cached = this.#onDemand.get(name);
    if (cached?.context) {
      if (cached.failures === 0 && cached.cert && needsRenewal(cached.cert.meta, new Date()) && !this.#flight.has(`m:${cached.name}`)) this.#schedule(cached, 0);
      return cached.context;
    }
    const od = this.#o.onDemand;
    const policy = od?.covers(name);
    if (!od || !policy) return undefined;
    const failed = this.#failed.get(name);
    if (failed && failed.until > Date.now()) return undefined;
    return this.#wait(
      this.#flight.do(`od:${name}`, async () => {
        const entry: Entry = { name, policy, failures: 0, managed: false };
        const stored = await this.#o.store.load(policy.issuer.storageKey, name);
        try {
          if (stored && Date.parse(stored.meta.notAfter) > Date.now()) {
            // Serve what storage has while it is valid; a due renewal runs in the background.
            this.#install(entry, stored);
          } else {
            await od.authorize(name);
            await this.#obtain(entry);
          }
        } catch (err) {
          const failures = (failed?.failures ?? 0) + 1;
          const refused = err instanceof MyServerError && err.code === 'MS_ERR_POLICY';
          // A refusal is asked again soon (the ask endpoint may allow the name later); a failed
          // issuance backs off like managed names do.
          const delay = refused ? ON_DEMAND_REFUSAL_CACHE_MS : backoffDelay(failures - 1, { baseMs: this.#o.retryBaseMs ?? DEFAULT_RETRY_BASE_MS, maxMs: this.#o.retryMaxMs ?? DEFAULT_RETRY_MAX_MS });
          this.#failed.set(name, { until: Date.now() + delay, failures });
          throw err;
        }
        this.#failed.delete(name);
        this.#onDemand.set(name, entry);
        return entry;
      }),
      name,
    );
  }

  /** A context already loaded for `name` (no storage, no issuance): for handshakes that cannot wait. */
  loadedContextFor(name: string): tls.SecureContext | undefined {
    return (this.#managed.get(name) ?? this.#onDemand.get(name))?.context;
  }

  /** What is loaded now, for the admin API and metrics. */
  certificates(): StoredCertificate[] {
    const out: StoredCertificate[] = [];
    for (const e of [...this.#managed.values(), ...this.#onDemand.values()]) if (e.cert) out.push(e.cert);
    return out;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#storageTimer);
    for (const e of this.#managed.values()) clearTimeout(e.timer);
    this.#onDemand.clear();
  }

  async #wait(p: Promise<Entry>, name: string): Promise<tls.SecureContext | undefined> {
    const waitMs = this.#o.handshakeWaitMs ?? DEFAULT_HANDSHAKE_WAIT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), waitMs);
      timer.unref();
    });
    try {
      const entry = await Promise.race([p, timeout]);
      if (!entry) this.#o.log.warn({ name, waitMs }, 'handshake gave up waiting for a certificate');
      return entry?.context;
    } catch (err) {
      this.#o.log.warn({ name, err }, `no certificate for ${name}: ${describeError(err)}`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Load or obtain a managed entry's certificate, once at a time. */
  #ensure(entry: Entry): Promise<Entry> {
    return this.#flight.do(`m:${entry.name}`, async () => {
      if (!entry.cert) {
        const stored = await this.#o.store.load(entry.policy.issuer.storageKey, entry.name);
        if (stored) this.#install(entry, stored);
      }
      if (!entry.cert || needsRenewal(entry.cert.meta, new Date())) await this.#obtain(entry);
      return entry;
    });
  }

  async #obtain(entry: Entry): Promise<void> {
    const cert = await obtainCertificate([entry.name], {
      storage: this.#o.storage,
      store: this.#o.store,
      issuer: entry.policy.issuer,
      keyType: entry.policy.keyType,
      log: this.#o.log,
    });
    this.#install(entry, cert);
  }

  #install(entry: Entry, cert: StoredCertificate): void {
    entry.context = tls.createSecureContext({ ...this.#o.contextOptions, key: cert.keyPem, cert: cert.chainPem });
    entry.cert = cert;
    entry.failures = 0;
    publishCertLoaded({ name: entry.name, notAfter: new Date(cert.meta.notAfter) });
    const sinceObtained = Date.now() - Date.parse(cert.meta.obtainedAt);
    const lifetime = Date.parse(cert.meta.notAfter) - Date.parse(cert.meta.notBefore);
    const minInterval = Math.min(MIN_RENEWAL_INTERVAL_MS, lifetime / 10);
    this.#schedule(entry, Math.max(0, renewalTime(cert.meta).getTime() - Date.now(), minInterval - sinceObtained));
  }

  /** Run #ensure for `entry` after `delayMs`; on failure retry with backoff. */
  #schedule(entry: Entry, delayMs: number): void {
    if (this.#closed || entry.removed) return;
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      if (delayMs >= MAX_TIMER_MS) {
        this.#schedule(entry, delayMs - MAX_TIMER_MS);
        return;
      }
      this.#ensure(entry).catch((err: unknown) => {
        const backoff = backoffDelay(entry.failures++, {
          baseMs: this.#o.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
          maxMs: this.#o.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
        });
        // A CA that says when to come back (rateLimited, 503 with Retry-After) is believed.
        const retryMs = Math.max(backoff, findProblem(err)?.retryAfter ?? 0);
        this.#o.log.error({ name: entry.name, err, retryInMs: retryMs, failures: entry.failures }, `obtaining certificate for ${entry.name} failed: ${describeError(err)}`);
        this.#schedule(entry, retryMs);
      });
    }, Math.min(delayMs, MAX_TIMER_MS));
    entry.timer.unref();
  }

  /** Pick up certificates another process renewed (a different serial in storage). */
  async #checkStorage(): Promise<void> {
    for (const entry of [...this.#managed.values(), ...this.#onDemand.values()]) {
      if (!entry.cert || this.#flight.has(`m:${entry.name}`)) continue;
      try {
        // The metadata first: only a changed serial is worth reading and checking the whole entry.
        const meta = await this.#o.store.loadMeta(entry.policy.issuer.storageKey, entry.name);
        if (!meta || meta.serialHex === entry.cert.meta.serialHex) continue;
        const stored = await this.#o.store.load(entry.policy.issuer.storageKey, entry.name);
        if (stored && stored.meta.serialHex !== entry.cert.meta.serialHex && stored.meta.notAfter >= entry.cert.meta.notAfter) {
          this.#o.log.info({ name: entry.name, serial: stored.meta.serialHex }, 'loaded a certificate renewed elsewhere');
          this.#install(entry, stored);
        }
      } catch (err) {
        this.#o.log.warn({ name: entry.name, err }, 'checking storage for a newer certificate failed');
      }
    }
  }
}

function wildcardOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot > 0 && name.indexOf('.', dot + 1) > 0 ? `*${name.slice(dot)}` : undefined;
}
