import { MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { certificateMatchesKey, parseCertificate } from '../x509/certificate.ts';
import type { CertifiedKey, LeafSigner } from '../x509/local-ca.ts';
import type { IssueRequest, Issued, Issuer } from './issuer.ts';
import { LOCAL_CA_LOCK, LOCAL_ISSUER, localCaKeys } from './keys.ts';

/** @peculiar/x509 (~8 MiB resident) is loaded at the first issuance, not by every config that could issue. */
const localCa = (): Promise<typeof import('../x509/local-ca.ts')> => import('../x509/local-ca.ts');

/** How long before its end an intermediate is replaced: leaves (7 days by default) never outlive it. */
const INTERMEDIATE_MARGIN_MS = 30 * 24 * 3600_000;

/**
 * The built-in local CA (SPEC.md: localhost, IP addresses, *.localhost, *.internal, *.local and
 * `local_certs` sites). Root and intermediate are created once, under a storage lock so that two
 * processes sharing a store agree on one root, and kept in storage; users trust the root printed by
 * `my-server certs root`.
 */
export class LocalIssuer implements Issuer {
  readonly id = LOCAL_ISSUER;
  readonly storageKey = LOCAL_ISSUER;
  readonly #storage: Storage;
  readonly #log: Logger;
  readonly #lifetimeMs: number | undefined;
  /** With the intermediate checked and parsed once (leafSigner), not again for every leaf. */
  #ca: Promise<{ root: CertifiedKey; intermediate: CertifiedKey; signer: LeafSigner }> | undefined;
  /** When the cached CA must be read again: a month before its intermediate ends. */
  #caRefreshAt = 0;

  constructor(options: { storage: Storage; log: Logger; lifetimeMs?: number }) {
    this.#storage = options.storage;
    this.#log = options.log;
    this.#lifetimeMs = options.lifetimeMs;
  }

  /** The root certificate (PEM), creating the CA in storage if needed. */
  async rootPem(): Promise<string> {
    return (await this.#loadCa()).root.certPem;
  }

  async issue(request: IssueRequest): Promise<Issued> {
    const { intermediate, signer } = await this.#loadCa();
    const { chainPem } = await (await localCa()).issueLeafCertificate({
      issuer: intermediate,
      signer,
      names: request.names,
      keyPem: request.keyPem,
      key: request.key,
      ...(this.#lifetimeMs !== undefined ? { lifetimeMs: this.#lifetimeMs } : {}),
    });
    return { chainPem };
  }

  #loadCa(): Promise<{ root: CertifiedKey; intermediate: CertifiedKey; signer: LeafSigner }> {
    // A process can run longer than the month of margin #read keeps: past the refresh time the
    // cached CA is read again, so the intermediate is rotated (or another process's rotation
    // picked up) instead of signing leaves that end with it or fail once it has expired.
    if (this.#ca !== undefined && Date.now() >= this.#caRefreshAt) this.#ca = undefined;
    if (this.#ca !== undefined) return this.#ca;
    // Cached as a promise so concurrent first issues load (or create) the CA once; no refresh
    // while that load runs.
    this.#caRefreshAt = Number.POSITIVE_INFINITY;
    this.#ca = Promise.all([this.#loadOrCreate(), localCa()])
      .then(([ca, { leafSigner }]) => {
        const signer = leafSigner(ca.intermediate);
        this.#caRefreshAt = signer.notAfter - INTERMEDIATE_MARGIN_MS;
        return { ...ca, signer };
      })
      .catch((err: unknown) => {
        // A load that failed, or an intermediate leafSigner refused, is not kept: the next issue tries again.
        this.#ca = undefined;
        throw err;
      });
    return this.#ca;
  }

  async #loadOrCreate(): Promise<{ root: CertifiedKey; intermediate: CertifiedKey }> {
    const existing = await this.#read();
    if (existing) return existing;
    await this.#storage.lock(LOCAL_CA_LOCK, { timeoutMs: 60_000 });
    try {
      const again = await this.#read();
      if (again) return again;
      const { createIntermediateCa, createRootCa } = await localCa();
      const root = (await this.#readPair(localCaKeys.rootCert, localCaKeys.rootKey, true)) ?? (await createRootCa());
      // Fenced (Redis): an instance paused past the lock's lease must not replace the CA another
      // one created meanwhile, whose root clients may already trust.
      const fenced = { fence: this.#storage.fence?.(LOCAL_CA_LOCK) };
      // Key before certificate: a crash between the two leaves a key without a certificate, which
      // #readPair treats as absent, never a certificate whose key is lost.
      await this.#storage.put(localCaKeys.rootKey, root.keyPem, fenced);
      await this.#storage.put(localCaKeys.rootCert, root.certPem, fenced);
      const intermediate = await createIntermediateCa(root);
      await this.#storage.put(localCaKeys.intermediateKey, intermediate.keyPem, fenced);
      await this.#storage.put(localCaKeys.intermediateCert, intermediate.certPem, fenced);
      this.#log.info({ storage: this.#storage.toString() }, 'created the local CA (trust its root: my-server certs root)');
      return { root, intermediate };
    } finally {
      await this.#storage.unlock(LOCAL_CA_LOCK);
    }
  }

  async #read(): Promise<{ root: CertifiedKey; intermediate: CertifiedKey } | undefined> {
    const root = await this.#readPair(localCaKeys.rootCert, localCaKeys.rootKey, true);
    const intermediate = await this.#readPair(localCaKeys.intermediateCert, localCaKeys.intermediateKey, false);
    if (!root || !intermediate) return undefined;
    const expires = this.#notAfter(intermediate.certPem);
    if (expires < Date.now() + INTERMEDIATE_MARGIN_MS) {
      // The intermediate lives a year; replace it a month before it ends so leaves never outlive it.
      return undefined;
    }
    return { root, intermediate };
  }

  #notAfter(pem: string): number {
    return parseCertificate(pem).notAfter.getTime();
  }

  /**
   * A stored certificate and key. A mismatched intermediate (a crash between the key's and the
   * certificate's writes) reads as absent and is made again from the root; a mismatched root is an
   * error, since replacing it would silently distrust every certificate already handed out.
   */
  async #readPair(certKey: string, keyKey: string, isRoot: boolean): Promise<CertifiedKey | undefined> {
    const [cert, key] = await Promise.all([this.#storage.get(certKey), this.#storage.get(keyKey)]);
    if (!cert || !key) return undefined;
    const pair = { certPem: cert.toString('utf8'), keyPem: key.toString('utf8') };
    if (!certificateMatchesKey(pair.certPem, pair.keyPem)) {
      if (!isRoot) return undefined;
      throw new MyServerError('MS_ERR_STORAGE', `local CA: ${certKey} does not match ${keyKey}`);
    }
    return pair;
  }
}
