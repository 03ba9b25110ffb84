import { RENEWAL_INFO_DEFAULT_CHECK_MS, RENEWAL_INFO_MAX_CHECK_MS, RENEWAL_INFO_MIN_CHECK_MS, renewalInfoCheckDelay, renewalInfoRetryDelay } from '../acme/ari.ts';
import { findProblem } from '../acme/problem.ts';
import type { RenewalInfo } from '../acme/types.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { withMeta, type CertificateStore, type StoredCertificate } from './certificate-store.ts';
import type { Clock } from './clock.ts';
import type { Entry } from './entry.ts';
import type { Issuer } from './issuer.ts';
import { issueLockName } from './keys.ts';
import { ariWindowMoved, updatedAri, type CertificateMeta } from './meta.ts';

/**
 * An optional issuer ability (RFC 9773): the CA's current renewal information for a certificate it
 * issued. Resolves to undefined when the CA offers none for it; rejects when asking failed (with
 * an AcmeProblem when the CA answered with one). Must honour `signal`.
 */
export interface RenewalInfoSource {
  renewalInfo(chainPem: string, options?: { readonly signal?: AbortSignal }): Promise<RenewalInfo | undefined>;
}

export function hasRenewalInfo(issuer: Issuer): issuer is Issuer & RenewalInfoSource {
  return typeof (issuer as Partial<RenewalInfoSource>).renewalInfo === 'function';
}

/**
 * How long storage's lock is awaited to record new renewal information; an issuance holds it for
 * longer only in trouble, and then its new certificate makes the information moot anyway.
 */
const RENEWAL_INFO_SAVE_LOCK_WAIT_MS = 60_000;

export interface AriRefreshOptions {
  readonly storage: Storage;
  readonly store: CertificateStore;
  readonly log: Logger;
  readonly clock: Clock;
  /** Aborted when the manager closes: stops requests and lock waits in flight, and all checks. */
  readonly signal: AbortSignal;
  /**
   * `entry` still holds the certificate whose renewal information changed to `meta` (in memory,
   * and in storage unless that save failed): its renewal is to be scheduled by `meta`.
   */
  readonly updated: (entry: Entry, meta: CertificateMeta) => void;
}

/**
 * RFC 9773 renewal-information polling for loaded certificates: one check timer per entry
 * (`entry.ariTimer`), the CA's Retry-After clamped (acme/ari.ts), answers kept in `entry.cert` and
 * saved to storage under the name's issuance lock. Never touches the renewal timer itself: a
 * changed window goes to `updated`.
 */
export class AriRefresh {
  readonly #o: AriRefreshOptions;

  constructor(options: AriRefreshOptions) {
    this.#o = options;
  }

  /** Start checking `entry`'s newly installed certificate. */
  follow(entry: Entry): void {
    // A new certificate: the old one's checks end (RFC 9773 §4.3, not after it is replaced).
    entry.ariFailures = 0;
    if (entry.cert) this.#schedule(entry, this.#delay(entry.cert.meta));
  }

  /**
   * When to ask for renewal information about a certificate with `meta`: at the stored nextCheck
   * (already clamped when it was stored; clamped again here against a clock that jumped), or one
   * minute after install when there is no answer yet (the issuance's own request failed).
   */
  #delay(meta: CertificateMeta): number {
    if (!meta.ari) return RENEWAL_INFO_MIN_CHECK_MS;
    const next = meta.ari.nextCheck !== undefined ? Date.parse(meta.ari.nextCheck) : Date.parse(meta.ari.checkedAt) + RENEWAL_INFO_DEFAULT_CHECK_MS;
    if (Number.isNaN(next)) return RENEWAL_INFO_MIN_CHECK_MS;
    return Math.min(RENEWAL_INFO_MAX_CHECK_MS, Math.max(0, next - this.#o.clock.now()));
  }

  /** Ask the issuing CA for renewal information about `entry`'s certificate after `delayMs`. */
  #schedule(entry: Entry, delayMs: number): void {
    this.#o.clock.clearTimer(entry.ariTimer);
    entry.ariTimer = undefined;
    const cert = entry.cert;
    if (this.#o.signal.aborted || entry.removed || !cert || !this.#asks(entry, cert)) return;
    entry.ariTimer = this.#o.clock.setTimer(() => void this.#check(entry, cert), delayMs);
  }

  /**
   * Only the CA that issued the certificate is asked, and only while the certificate is valid:
   * "Clients MUST NOT check a certificate's RenewalInfo after the certificate has expired" (RFC
   * 9773 §4.3); the renewal timer deals with an expired one.
   */
  #asks(entry: Entry, cert: StoredCertificate): boolean {
    return hasRenewalInfo(entry.policy.issuer) && cert.meta.issuer === entry.policy.issuer.id && this.#o.clock.now() < Date.parse(cert.meta.notAfter);
  }

  /**
   * RFC 9773 §4.3.2: "After an initial fetch of a certificate's RenewalInfo, clients MUST fetch it
   * again as soon as possible after the time indicated in the Retry-After header". The CA may move
   * the window (e.g. ahead of revoking mis-issued certificates); a window or chosen time already
   * past renews at once, within the usual minimum interval and issuance backoff. A failure is
   * logged and asked again later (ari.ts, renewalInfoRetryDelay); it never touches the renewal
   * timer, so the stored window, or else the lifetime rule, still renews in time. Never rejects.
   */
  async #check(entry: Entry, cert: StoredCertificate): Promise<void> {
    entry.ariTimer = undefined;
    const { log, clock, signal } = this.#o;
    const issuer = entry.policy.issuer;
    const current = (): boolean => !signal.aborted && !entry.removed && entry.cert === cert;
    if (!current() || !hasRenewalInfo(issuer) || !this.#asks(entry, cert)) return;
    let info: RenewalInfo | undefined;
    try {
      info = await issuer.renewalInfo(cert.chainPem, { signal });
    } catch (err) {
      if (!current()) return;
      const failures = ++entry.ariFailures;
      const retryInMs = renewalInfoRetryDelay(err, failures);
      const problem = findProblem(err);
      log.warn(
        {
          name: entry.name,
          err,
          ...(problem ? { problem: { type: problem.type, detail: problem.detail, status: problem.status } } : {}),
          failures,
          retryInMs,
        },
        `fetching renewal information for ${entry.name} failed: ${describeError(err)}`,
      );
      this.#schedule(entry, retryInMs);
      return;
    }
    if (!current()) return;
    entry.ariFailures = 0;
    if (!info) {
      // The CA offers none (now): ask again once a day in case it starts to.
      this.#schedule(entry, RENEWAL_INFO_MAX_CHECK_MS);
      return;
    }
    const previous = cert.meta.ari;
    const now = clock.now();
    const ari = updatedAri(previous, info, new Date(now));
    const meta: CertificateMeta = { ...cert.meta, ari };
    const updated = withMeta(cert, meta);
    entry.cert = updated;
    if (ariWindowMoved(previous, ari)) {
      const renewNow = Date.parse(ari.renewAt) <= now;
      log.info(
        { name: entry.name, start: ari.start, end: ari.end, renewAt: ari.renewAt, ...(ari.explanationUrl !== undefined ? { explanationUrl: ari.explanationUrl } : {}) },
        previous ? `the CA moved the renewal window of ${entry.name}${renewNow ? '; renewing now' : ''}` : `renewal window of ${entry.name} received`,
      );
    }
    this.#schedule(entry, renewalInfoCheckDelay(info.retryAfterMs));
    // Stored before the renewal is scheduled, so a renewal due at once finds it in storage.
    try {
      await this.#save(entry, updated);
    } catch (err) {
      // Kept in memory all the same, and the renewal does not depend on storage: the manager's
      // obtain passes the loaded metadata, which outweighs the older stored record of the same
      // certificate. Storage catches up at the next check, or with the renewed certificate.
      if (!signal.aborted && entry.cert === updated) log.warn({ name: entry.name, err }, `storing renewal information for ${entry.name} failed: ${describeError(err)}`);
    }
    // Meanwhile another certificate may have been installed (with its own schedule).
    if (signal.aborted || entry.removed || entry.cert !== updated) return;
    this.#o.updated(entry, meta);
  }

  /**
   * Record `cert`'s new metadata in storage, under the name's issuance lock so it never interleaves
   * with a renewal's save; unless storage holds another certificate by now (renewed elsewhere: that
   * one wins, and the storage check loads it).
   */
  async #save(entry: Entry, cert: StoredCertificate): Promise<void> {
    const { storage, store, signal } = this.#o;
    const storageKey = entry.policy.issuer.storageKey;
    const lock = issueLockName(entry.name);
    await storage.lock(lock, { timeoutMs: RENEWAL_INFO_SAVE_LOCK_WAIT_MS, signal });
    try {
      const stored = await store.loadMeta(storageKey, entry.name);
      if (stored?.serialHex !== cert.meta.serialHex) return;
      await store.save(storageKey, entry.name, { chainPem: cert.chainPem, keyPem: cert.keyPem, meta: cert.meta });
    } finally {
      await storage.unlock(lock);
    }
  }
}
