import { LRUCache } from 'lru-cache';
import { MyServerError } from '../errors.ts';
import type { Fence, Storage } from '../storage/storage.ts';
import { leafMatches } from '../x509/certificate.ts';
import { CERTIFICATES_ROOT, certificateKeys, certificatePendingKey, certificateWriteLockName } from './keys.ts';
import { parseMeta, type CertificateMeta } from './meta.ts';

export interface StoredCertificate {
  readonly chainPem: string;
  readonly keyPem: string;
  readonly meta: CertificateMeta;
  /** Where the three parts live, for `certs list`. */
  readonly keys: { readonly cert: string; readonly key: string; readonly meta: string };
}

type Entry = Pick<StoredCertificate, 'chainPem' | 'keyPem' | 'meta'>;
type Keys = StoredCertificate['keys'];

/**
 * The texts many certificates share, one string each for the whole process: the issuer part of
 * chains (every name from one CA carries the same intermediate) and the metadata's CA fields.
 * Bounded: a server has certificates from a few CAs; an odd store with more only shares less.
 */
const shared = new LRUCache<string, string>({ max: 64 });

function share(text: string): string {
  const hit = shared.get(text);
  if (hit !== undefined) return hit;
  shared.set(text, text);
  return text;
}

const END_CERTIFICATE = '-----END CERTIFICATE-----';

/**
 * How a stored certificate is kept in memory for every loaded name: many thousands with
 * on-demand TLS, most of them cold (no SecureContext, certs/context-cache.ts), so this record is
 * their whole cost (issue 12).
 *
 * Why this shape: the chain is held as the leaf's PEM and the rest of the text (the issuer's
 * certificates), the rest one shared string per distinct text (`share`). Every name from one CA
 * carries the same intermediate, 0.7 KiB of PEM from the local CA and ~1.5 KiB from Let's
 * Encrypt, which was the largest part of a cold certificate. `chainPem` joins the two at each
 * call, a new string each time: a joined string kept here would be flattened in place, into one
 * full copy, the first time C++ reads it (createSecureContext does). `keys` is derived on demand
 * (three ~70-character strings per name otherwise); it is read by `certs list` and the status
 * endpoint, not per handshake.
 *
 * Never spread one (`{ ...cert, meta }`): getters are not own properties, so the copy would have
 * no chain and no keys, and TypeScript cannot tell. `withMeta` is the way to change the metadata.
 */
class CompactCertificate implements StoredCertificate {
  readonly #leaf: string;
  readonly #rest: string;
  readonly #issuerKey: string;
  readonly #name: string;
  readonly keyPem: string;
  readonly meta: CertificateMeta;

  private constructor(issuerKey: string, name: string, leaf: string, rest: string, keyPem: string, meta: CertificateMeta) {
    this.#leaf = leaf;
    this.#rest = rest;
    this.#issuerKey = issuerKey;
    this.#name = name;
    this.keyPem = keyPem;
    this.meta = compactMeta(meta);
  }

  /** The record of a chain as read (bytes) or as saved (text: a save, a pending record). */
  static of(issuerKey: string, name: string, chainPem: Buffer | string, keyPem: string, meta: CertificateMeta): CompactCertificate {
    const chain = typeof chainPem === 'string' ? Buffer.from(chainPem) : chainPem;
    // The leaf ends after its END line and the line break(s) after it; both parts are decoded from
    // the bytes, so neither is a slice that keeps the whole text alive.
    const end = chain.indexOf(END_CERTIFICATE);
    let cut = end < 0 ? chain.length : end + END_CERTIFICATE.length;
    while (cut < chain.length && (chain[cut] === 0x0a || chain[cut] === 0x0d)) cut++;
    const rest = cut < chain.length ? share(chain.toString('utf8', cut)) : '';
    return new CompactCertificate(issuerKey, name, chain.toString('utf8', 0, cut), rest, keyPem, meta);
  }

  get chainPem(): string {
    return this.#rest === '' ? this.#leaf : this.#leaf + this.#rest;
  }

  /** The leaf's PEM alone: what the consistency check reads. */
  get leafPem(): string {
    return this.#leaf;
  }

  get keys(): Keys {
    return certificateKeys(this.#issuerKey, this.#name);
  }

  /** The same certificate with other metadata (a renewal-information update). */
  withMeta(meta: CertificateMeta): CompactCertificate {
    return new CompactCertificate(this.#issuerKey, this.#name, this.#leaf, this.#rest, this.keyPem, meta);
  }

  /** Getters are not own properties: a log line or an API answer still shows every field. */
  toJSON(): StoredCertificate {
    return { chainPem: this.chainPem, keyPem: this.keyPem, meta: this.meta, keys: this.keys };
  }
}

/** The metadata with the fields every certificate of one CA repeats shared (see `share`). */
function compactMeta(meta: CertificateMeta): CertificateMeta {
  const s = (v: string): string => (typeof v === 'string' ? share(v) : v);
  return { ...meta, issuer: s(meta.issuer), issuerName: s(meta.issuerName), keyType: s(meta.keyType) };
}

/**
 * `cert` with `meta` instead of its own metadata, kept as compact as `cert` is: a spread would turn
 * the joined chain into a field of its own.
 */
export function withMeta(cert: StoredCertificate, meta: CertificateMeta): StoredCertificate {
  return cert instanceof CompactCertificate ? cert.withMeta(meta) : { ...cert, meta };
}

export interface CertificateStoreOptions {
  /** How long load() waits for another writer before serving a pending record unrepaired. */
  readonly recoveryLockWaitMs?: number | undefined;
}

/**
 * A writer holds a certificate's write lock for four puts and a delete: milliseconds, or a few
 * hundred on a slow disk. Waiting 5 s longer means the holder died on another host and its lock
 * only frees when stale (20 s for files); load() runs on the handshake path, so it serves the
 * pending record as it is instead, and a later load repairs the files.
 */
const DEFAULT_RECOVERY_LOCK_WAIT_MS = 5_000;

/** save() and remove() wait past the stale threshold of a dead holder's lock (20 s for files). */
const WRITE_LOCK_WAIT_MS = 60_000;

/**
 * Certificates in Storage, under the layout of keys.ts: `<name>.key`, `<name>.crt` and `<name>.json`,
 * plus `<name>.pending` while a save is in progress. `load` returns only complete, consistent
 * entries (the key is the leaf's, the metadata describes the leaf) and never a mix of two saves.
 *
 * Why the pending record: each put is atomic but three puts are not, and Storage has no
 * transactions. A crash between writing a new key and its chain would leave parts that disagree;
 * refusing them is right, but it lost the old certificate too. So save() first puts the whole
 * entry as one value, then the three parts, then deletes it. Whatever moment a crash hits, storage
 * holds either no pending record and the old entry untouched (crash before its put), or a
 * complete pending record, from which `load` rolls forward: it rewrites the three parts (the same
 * bytes save writes, so repeating it is harmless) and deletes the record. A record that fails the
 * consistency check cannot come from save (it refuses such entries) and is deleted unused.
 *
 * Processes sharing storage: every write of a certificate's keys (save, roll-forward, remove) holds
 * its write lock, and a roll-forward re-reads the record under it. Without that, a load that read
 * a record, then stalled while that save finished and a newer one began, could write the older
 * parts between the newer ones and leave them disagreeing. The write lock is distinct from the
 * issuance lock obtain holds around load and save, and is only taken inside this class, so the
 * two are always taken in the same order (issuance, then write) and cannot deadlock.
 *
 * Safe for concurrent use within a process and across processes sharing the storage. Records
 * written by versions before the pending record (three parts only) load as before.
 */
export class CertificateStore {
  readonly #storage: Storage;
  readonly #recoveryLockWaitMs: number;

  constructor(storage: Storage, options: CertificateStoreOptions = {}) {
    this.#storage = storage;
    this.#recoveryLockWaitMs = options.recoveryLockWaitMs ?? DEFAULT_RECOVERY_LOCK_WAIT_MS;
  }

  /** The complete entry, or undefined when there is none; rolls an interrupted save forward first. */
  async load(issuerKey: string, name: string): Promise<StoredCertificate | undefined> {
    const keys = certificateKeys(issuerKey, name);
    for (let attempt = 0; ; attempt++) {
      // The three parts at once, even though a name with no certificate (every new on-demand
      // name, read twice) would cost two failed reads fewer with the chain read first: a stored
      // name would then wait for one more round trip before its first handshake, which on Redis
      // is a network one (tried in issue 12 and withdrawn).
      const [cert, key, meta] = await Promise.all([this.#storage.get(keys.cert), this.#storage.get(keys.key), this.#storage.get(keys.meta)]);
      // Read after the parts: a save writes its pending record before the parts and deletes it
      // after them, so parts read mid-save come with a pending record here, or the save is over.
      const pending = await this.#storage.get(certificatePendingKey(issuerKey, name));
      if (pending !== undefined) return this.#recover(issuerKey, name, pending);
      const entry = assemble(issuerKey, name, cert, key, meta);
      if (entry !== undefined || attempt > 0 || cert === undefined || key === undefined || meta === undefined) return entry;
      // Three parts that disagree and no pending record: a save ended between the reads (or the
      // store is damaged). One more read tells which, instead of a moment's "no certificate" that
      // would send an on-demand name to the ask endpoint again.
    }
  }

  /**
   * The metadata alone (one read, no parsing of keys or certificates): cheap change detection.
   * While a pending record exists, the full load, which rolls it forward.
   */
  async loadMeta(issuerKey: string, name: string): Promise<CertificateMeta | undefined> {
    const [bytes, pending] = await Promise.all([
      this.#storage.get(certificateKeys(issuerKey, name).meta),
      this.#storage.exists(certificatePendingKey(issuerKey, name)),
    ]);
    if (pending) return (await this.load(issuerKey, name))?.meta;
    if (!bytes) return undefined;
    try {
      return parseMeta(bytes);
    } catch {
      return undefined;
    }
  }

  /**
   * Pending record, key, chain, metadata, then the record's deletion; see the class comment.
   * Refuses (MS_ERR_X509) an entry whose parts disagree rather than replace a good certificate with it.
   * `fence`: the issuance lock the caller holds; every write is fenced with it and with the write
   * lock, so a caller that lost either lock gets FencedWriteError (storage/fenced.ts) instead of
   * overwriting a newer certificate. Announced to other instances (publishChange) once written.
   */
  async save(issuerKey: string, name: string, entry: Entry, fence?: Fence): Promise<StoredCertificate> {
    if (!consistent(entry)) {
      throw new MyServerError('MS_ERR_X509', `saving the certificate for ${name}: the key is not the leaf's, or the metadata describes another certificate`);
    }
    const keys = certificateKeys(issuerKey, name);
    const pendingKey = certificatePendingKey(issuerKey, name);
    await this.#withWriteLock(issuerKey, name, WRITE_LOCK_WAIT_MS, async (writeFence) => {
      const fences = [...(fence ? [fence] : []), ...writeFence];
      // A first certificate for the name needs no pending record (issue 12: it cost a temp-file
      // creation, a delete and two fsyncs per new name). The record exists so that a crash never
      // loses the *old* certificate, and there is none: any subset of the new parts that a crash
      // leaves is incomplete, which load reads as no certificate (all three must be there and
      // agree), as before the save. Checked under the write lock, which every writer of parts
      // holds (saves, roll-forwards, remove), so no pending record or part can appear meanwhile;
      // a concurrent reader sees no certificate until all three are in place, never a mix.
      const first = !(await Promise.all([keys.key, keys.cert, keys.meta, pendingKey].map((k) => this.#storage.exists(k)))).includes(true);
      if (first) {
        await this.#writeParts(keys, entry, fences, true);
        return;
      }
      await this.#storage.put(pendingKey, JSON.stringify({ keyPem: entry.keyPem, chainPem: entry.chainPem, meta: entry.meta }), { fence: fences });
      await this.#writeParts(keys, entry, fences);
      await this.#storage.delete(pendingKey, { fence: fences });
    });
    try {
      await this.#storage.publishChange?.(keys.meta);
    } catch {
      // Best effort: the other instances' storage check finds the new certificate anyway.
    }
    return CompactCertificate.of(issuerKey, name, entry.chainPem, entry.keyPem, entry.meta);
  }

  /** Forget a certificate (after revocation). Pending record and metadata first, so a crash midway leaves it incomplete, i.e. absent. */
  async remove(issuerKey: string, name: string): Promise<void> {
    const keys = certificateKeys(issuerKey, name);
    await this.#withWriteLock(issuerKey, name, WRITE_LOCK_WAIT_MS, async () => {
      await this.#storage.delete(certificatePendingKey(issuerKey, name));
      await this.#storage.delete(keys.meta);
      await this.#storage.delete(keys.cert);
      await this.#storage.delete(keys.key);
    });
  }

  /**
   * Every stored certificate's metadata, for `certs list` and the renewal loop. Pending records
   * (`.pending`, not `.json`) are not listed; an interrupted save shows its old metadata until a
   * load rolls it forward.
   */
  async list(): Promise<{ meta: CertificateMeta; keys: Keys }[]> {
    const all = await this.#storage.list(CERTIFICATES_ROOT, true);
    const out: { meta: CertificateMeta; keys: Keys }[] = [];
    for (const k of all.filter((x) => x.endsWith('.json'))) {
      const bytes = await this.#storage.get(k);
      if (!bytes) continue;
      try {
        const meta = parseMeta(bytes);
        const base = k.slice(0, -'.json'.length);
        out.push({ meta, keys: { cert: `${base}.crt`, key: `${base}.key`, meta: k } });
      } catch {
        // A foreign or damaged file in the certificates folder is not ours to list.
      }
    }
    return out;
  }

  /**
   * Finish the save a pending record stands for, or drop a record that is not a consistent entry,
   * then load. `seen` is the record as load read it, before the lock.
   */
  async #recover(issuerKey: string, name: string, seen: Buffer): Promise<StoredCertificate | undefined> {
    const keys = certificateKeys(issuerKey, name);
    const pendingKey = certificatePendingKey(issuerKey, name);
    try {
      return await this.#withWriteLock(issuerKey, name, this.#recoveryLockWaitMs, async (fence) => {
        // Re-read under the lock: the save may have finished, or a newer one begun, since `seen`.
        const bytes = await this.#storage.get(pendingKey);
        const entry = bytes === undefined ? undefined : parsePending(bytes);
        if (entry !== undefined) await this.#writeParts(keys, entry, fence);
        if (bytes !== undefined) await this.#storage.delete(pendingKey, { fence });
        if (entry !== undefined) return CompactCertificate.of(issuerKey, name, entry.chainPem, entry.keyPem, entry.meta);
        return this.#loadParts(issuerKey, name);
      });
    } catch (err) {
      if (!(err instanceof MyServerError && err.code === 'MS_ERR_LOCK_TIMEOUT')) throw err;
      // The holder is gone or stuck: serve without writing; a complete record is the newest entry.
      const entry = parsePending(seen);
      return entry !== undefined ? CompactCertificate.of(issuerKey, name, entry.chainPem, entry.keyPem, entry.meta) : this.#loadParts(issuerKey, name);
    }
  }

  async #loadParts(issuerKey: string, name: string): Promise<StoredCertificate | undefined> {
    const keys = certificateKeys(issuerKey, name);
    const [cert, key, meta] = await Promise.all([this.#storage.get(keys.cert), this.#storage.get(keys.key), this.#storage.get(keys.meta)]);
    return assemble(issuerKey, name, cert, key, meta);
  }

  /**
   * The three parts, durable once this resolves; the metadata JSON is byte for byte what every
   * writer writes. With Storage.putAll (files) all three at once and their folder synced once:
   * no order among them is needed, since load takes the parts only all together and consistent,
   * so any subset a crash leaves reads as the entry before (a pending record still there rolls it
   * forward), or as no certificate for a first one. Without putAll: key, chain, metadata in turn.
   */
  async #writeParts(keys: Keys, entry: Entry, fence: readonly Fence[], absent = false): Promise<void> {
    const parts: [string, string][] = [
      [keys.key, entry.keyPem],
      [keys.cert, entry.chainPem],
      [keys.meta, JSON.stringify(entry.meta, null, 2)],
    ];
    if (this.#storage.putAll) {
      await this.#storage.putAll(parts, { fence, absent });
      return;
    }
    for (const [key, value] of parts) await this.#storage.put(key, value, { fence, absent });
  }

  /** `fn` gets the write lock's fence (none when the storage has no fencing tokens). */
  async #withWriteLock<T>(issuerKey: string, name: string, timeoutMs: number, fn: (fence: readonly Fence[]) => Promise<T>): Promise<T> {
    const lock = certificateWriteLockName(issuerKey, name);
    await this.#storage.lock(lock, { timeoutMs });
    try {
      const fence = this.#storage.fence?.(lock);
      return await fn(fence ? [fence] : []);
    } finally {
      await this.#storage.unlock(lock);
    }
  }
}

/** The entry the three parts make, or undefined when one is missing or they disagree. */
function assemble(issuerKey: string, name: string, cert: Buffer | undefined, key: Buffer | undefined, meta: Buffer | undefined): StoredCertificate | undefined {
  if (!cert || !key || !meta) return undefined;
  let parsed: CertificateMeta;
  try {
    parsed = parseMeta(meta);
  } catch (err) {
    throw new MyServerError('MS_ERR_STORAGE', `reading ${certificateKeys(issuerKey, name).meta}`, { cause: err });
  }
  const entry = CompactCertificate.of(issuerKey, name, cert, key.toString('utf8'), parsed);
  // The leaf alone, as a rule: the check reads nothing else. The whole chain when that fails, as
  // save checked it: its first valid certificate block may come after text that has an END line
  // of its own (a damaged block before the leaf), and such a chain must load as it saved.
  return leafMatches(entry.leafPem, entry.keyPem, entry.meta.serialHex) || leafMatches(entry.chainPem, entry.keyPem, entry.meta.serialHex) ? entry : undefined;
}

/**
 * The key is the leaf's, and the metadata describes that leaf: a crash between the chain's write
 * and the metadata's in a version without pending records left old metadata beside a new chain.
 */
function consistent(entry: Entry): boolean {
  return leafMatches(entry.chainPem, entry.keyPem, entry.meta.serialHex);
}

/** A pending record's entry, or undefined when it is not JSON of the right shape or not consistent. */
function parsePending(bytes: Buffer): Entry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { keyPem, chainPem, meta } = v as Record<string, unknown>;
  if (typeof keyPem !== 'string' || typeof chainPem !== 'string') return undefined;
  if (typeof meta !== 'object' || meta === null || typeof (meta as Record<string, unknown>)['serialHex'] !== 'string') return undefined;
  const entry: Entry = { keyPem, chainPem, meta: meta as CertificateMeta };
  return consistent(entry) ? entry : undefined;
}
