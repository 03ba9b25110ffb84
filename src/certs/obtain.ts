import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { parseCertificate, splitPemChain } from '../x509/certificate.ts';
import { generatePrivateKey, type KeyType } from '../x509/keys.ts';
import { withMeta, type CertificateStore, type StoredCertificate } from './certificate-store.ts';
import { IssuanceHolds } from './holds.ts';
import { findRefusal, type Issuer } from './issuer.ts';
import { issueLockName } from './keys.ts';
import { needsRenewal, type CertificateMeta } from './meta.ts';
import { publish } from '../diagnostics.ts';
import { isFencedWrite } from '../storage/fenced.ts';

export interface ObtainOptions {
  readonly storage: Storage;
  readonly store: CertificateStore;
  readonly issuer: Issuer;
  readonly keyType: KeyType;
  readonly log: Logger;
  /** Issue even when a valid certificate is stored (`certs renew`). */
  readonly force?: boolean;
  /**
   * The metadata of the certificate the caller holds for these names (the manager's loaded one).
   * When storage holds that same certificate (same serial), whichever record has the newer renewal
   * information decides whether it is due: a window the CA moved, which the caller knows but has
   * not (yet, or ever, when that save failed) recorded in storage, is not vetoed by the older
   * stored record. A different certificate in storage (renewed by another process) is judged by
   * its own metadata, so processes sharing storage still make one order.
   */
  readonly known?: CertificateMeta;
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
}

/** How long one issuance may hold a name's lock before others may assume its holder is gone. */
const ISSUE_LOCK_WAIT_MS = 10 * 60_000;

/**
 * Make sure storage holds a current certificate for `names` (stored under the first name) and
 * return it (with `known`'s metadata when that decided it is not due; see ObtainOptions.known).
 * Under a storage lock per name, so two processes sharing a store make one order: the second finds
 * the first one's certificate when it gets the lock.
 *
 * Holds (certs/holds.ts) are obeyed here, on every path: while the CA's Retry-After or a park
 * covers one of `names`, this rejects with IssuanceRefused without asking the CA; a refusal that
 * binds later attempts is recorded before it is rethrown.
 */
export async function obtainCertificate(names: readonly string[], o: ObtainOptions): Promise<StoredCertificate> {
  const primary = names[0];
  if (primary === undefined) throw new Error('obtaining a certificate: no names');
  const now = o.now ?? ((): Date => new Date());
  const lock = issueLockName(primary);
  const holds = new IssuanceHolds(o.storage, o.issuer.storageKey, () => now().getTime());
  await o.storage.lock(lock, { timeoutMs: ISSUE_LOCK_WAIT_MS, ...(o.signal ? { signal: o.signal } : {}) });
  // Taken now, not at save: a holder that lost the lock while paused no longer has a token then.
  const fence = o.storage.fence?.(lock);
  try {
    const existing = await o.store.load(o.issuer.storageKey, primary);
    if (existing && !o.force && coversAll(existing.meta, names)) {
      const meta = freshestMeta(existing.meta, o.known);
      // Not due: returned with the metadata that decided, so the caller keeps what it knew.
      if (!needsRenewal(meta, now())) return meta === existing.meta ? existing : withMeta(existing, meta);
    }
    // Read under the lock: a hold recorded by the holder we waited for counts.
    const held = await holds.check(names);
    if (held) throw held;
    const log = o.log.child({ names });
    log.info({ issuer: o.issuer.id, renewal: existing !== undefined }, existing ? 'renewing certificate' : 'obtaining certificate');
    const started = Date.now();
    const { keyPem, key } = await generatePrivateKey(o.keyType);
    let issued;
    try {
      issued = await o.issuer.issue({
        names,
        keyPem,
        key,
        keyType: o.keyType,
        ...(existing ? { replacing: { chainPem: existing.chainPem } } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      const refusal = findRefusal(err);
      if (refusal) {
        try {
          await holds.record(refusal.holds);
        } catch (storeErr) {
          // The caller still gets the refusal and waits in memory; other processes may not know.
          log.warn({ err: storeErr }, 'recording the CA\'s hold in storage failed');
        }
        const problem = refusal.holds[0]?.problem;
        log.warn(
          { holds: refusal.holds.map((h) => ({ scope: h.scope, subjects: h.subjects, until: new Date(h.until).toISOString(), parked: h.parked })), problem },
          `${refusal.parked ? 'parked' : 'holding'} ${names.join(', ')}: ${refusal.message}${problem ? ` (${problem.type}: ${problem.detail})` : ''}`,
        );
      }
      throw err;
    }
    const leafPem = splitPemChain(issued.chainPem)[0];
    if (leafPem === undefined) throw new Error(`obtaining a certificate for ${primary}: the issuer returned no certificate`);
    const leaf = parseCertificate(leafPem);
    const issuerPem = splitPemChain(issued.chainPem)[1];
    const meta: CertificateMeta = {
      names: [...names],
      issuer: o.issuer.id,
      issuerName: leaf.issuerCommonName ?? (issuerPem ? (parseCertificate(issuerPem).subjectCommonName ?? '') : ''),
      serialHex: leaf.serialHex,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
      obtainedAt: now().toISOString(),
      keyType: o.keyType,
      ...(issued.certificateUrl !== undefined ? { certificateUrl: issued.certificateUrl } : {}),
      ...(issued.ari ? { ari: issued.ari } : {}),
    };
    let saved;
    try {
      saved = await o.store.save(o.issuer.storageKey, primary, { chainPem: issued.chainPem, keyPem, meta }, fence);
    } catch (err) {
      // Paused past the lock's lease (GC, SIGSTOP, partition): another instance took the name over
      // and its certificate stands. Ours is dropped unused; serve what that one stored, if it did
      // store one: the refusal says only that the lock changed hands, and storage may still hold
      // the certificate this issuance set out to replace (the other holder not done yet, or
      // finding nothing due), or one for fewer names.
      if (!isFencedWrite(err)) throw err;
      const winner = await o.store.load(o.issuer.storageKey, primary);
      if (winner === undefined || !supersedes(winner.meta, existing?.meta, names, now())) throw err;
      log.warn({ serial: winner.meta.serialHex, dropped: meta.serialHex, err }, 'another instance took over this name while we were issuing: keeping its certificate');
      return winner;
    }
    publish('my-server:cert:obtained', { names: meta.names, issuer: o.issuer.id });
    log.info({ notAfter: meta.notAfter, serial: meta.serialHex, ms: Date.now() - started }, existing ? 'certificate renewed' : 'certificate obtained');
    return saved;
  } finally {
    await o.storage.unlock(lock);
  }
}

/**
 * `stored`, or `known` instead when it describes the same certificate with newer renewal
 * information (ari.checkedAt later, or an answer where storage has none).
 */
function freshestMeta(stored: CertificateMeta, known: CertificateMeta | undefined): CertificateMeta {
  if (known?.ari === undefined || known.serialHex !== stored.serialHex) return stored;
  if (stored.ari === undefined || Date.parse(known.ari.checkedAt) > Date.parse(stored.ari.checkedAt)) return known;
  return stored;
}

/**
 * Whether `stored` (what storage holds after our save was fenced off) is a certificate another
 * holder obtained in our place: not the one we held when we began (`before`: another serial, and
 * not older, by notBefore), for every one of `names`, and not expired.
 */
export function supersedes(stored: CertificateMeta, before: CertificateMeta | undefined, names: readonly string[], now: Date): boolean {
  if (!coversAll(stored, names) || Date.parse(stored.notAfter) <= now.getTime()) return false;
  if (before === undefined) return true;
  return stored.serialHex !== before.serialHex && Date.parse(stored.notBefore) >= Date.parse(before.notBefore);
}

function coversAll(meta: CertificateMeta, names: readonly string[]): boolean {
  return names.every((n) => meta.names.includes(n));
}
