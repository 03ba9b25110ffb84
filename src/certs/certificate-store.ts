import { MyServerError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import { certificateMatchesKey, parseCertificate } from '../x509/certificate.ts';
import { CERTIFICATES_ROOT, certificateKeys } from './keys.ts';
import { parseMeta, type CertificateMeta } from './meta.ts';

export interface StoredCertificate {
  readonly chainPem: string;
  readonly keyPem: string;
  readonly meta: CertificateMeta;
  /** Where the three parts live, for `certs list`. */
  readonly keys: { readonly cert: string; readonly key: string; readonly meta: string };
}

/**
 * Certificates in Storage, under the layout of keys.ts. `load` returns only complete, consistent
 * entries: a crash between the three writes of `save` (key, chain, meta — each atomic) leaves an
 * entry whose parts disagree, which `load` reports as absent so the caller issues again, instead of
 * serving a certificate with the wrong key.
 */
export class CertificateStore {
  readonly #storage: Storage;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  async load(issuerKey: string, name: string): Promise<StoredCertificate | undefined> {
    const keys = certificateKeys(issuerKey, name);
    const [cert, key, meta] = await Promise.all([
      this.#storage.get(keys.cert),
      this.#storage.get(keys.key),
      this.#storage.get(keys.meta),
    ]);
    if (!cert || !key || !meta) return undefined;
    const chainPem = cert.toString('utf8');
    const keyPem = key.toString('utf8');
    let parsed: CertificateMeta;
    try {
      parsed = parseMeta(meta);
    } catch (err) {
      throw new MyServerError('MS_ERR_STORAGE', `reading ${keys.meta}`, { cause: err });
    }
    if (!certificateMatchesKey(chainPem, keyPem)) return undefined;
    // A crash between the chain's write and the metadata's leaves old metadata beside a new chain.
    if (parseCertificate(chainPem).serialHex !== parsed.serialHex) return undefined;
    return { chainPem, keyPem, meta: parsed, keys };
  }

  /** The metadata alone (one read, no parsing of keys or certificates): cheap change detection. */
  async loadMeta(issuerKey: string, name: string): Promise<CertificateMeta | undefined> {
    const bytes = await this.#storage.get(certificateKeys(issuerKey, name).meta);
    if (!bytes) return undefined;
    try {
      return parseMeta(bytes);
    } catch {
      return undefined;
    }
  }

  /** Key first, then chain, then metadata: the metadata's presence marks a finished save. */
  async save(issuerKey: string, name: string, entry: { chainPem: string; keyPem: string; meta: CertificateMeta }): Promise<StoredCertificate> {
    const keys = certificateKeys(issuerKey, name);
    await this.#storage.put(keys.key, entry.keyPem);
    await this.#storage.put(keys.cert, entry.chainPem);
    await this.#storage.put(keys.meta, JSON.stringify(entry.meta, null, 2));
    return { ...entry, keys };
  }

  /** Forget a certificate (after revocation). Metadata first, so a crash midway leaves it incomplete, i.e. absent. */
  async remove(issuerKey: string, name: string): Promise<void> {
    const keys = certificateKeys(issuerKey, name);
    await this.#storage.delete(keys.meta);
    await this.#storage.delete(keys.cert);
    await this.#storage.delete(keys.key);
  }

  /** Every stored certificate's metadata, for `certs list` and the renewal loop. */
  async list(): Promise<{ meta: CertificateMeta; keys: StoredCertificate['keys'] }[]> {
    const all = await this.#storage.list(CERTIFICATES_ROOT, true);
    const out: { meta: CertificateMeta; keys: StoredCertificate['keys'] }[] = [];
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
}
