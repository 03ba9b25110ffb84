import { isIP } from 'node:net';
import type { AcmeClient } from '../acme/client.ts';
import { certIdFromParts } from '../acme/ari.ts';
import { obtainCertificate } from '../acme/flow.ts';
import type { AcmeEvent } from '../acme/events.ts';
import type { Identifier, RenewalInfo } from '../acme/types.ts';
import type { Solver } from '../challenges/solver.ts';
import type { Logger } from '../log.ts';
import { parseCertificate, splitPemChain } from '../x509/certificate.ts';
import { createCsr } from '../x509/csr.ts';
import type { IssueRequest, Issued, Issuer, Revoker } from './issuer.ts';
import { issuerKey } from './keys.ts';
import type { RenewalInfoSource } from './manager.ts';
import { updatedAri, type AriMeta } from './meta.ts';

export interface AcmeIssuerOptions {
  /** Resolves to a client bound to the account (certs/account.ts), created on first use. */
  readonly client: () => Promise<AcmeClient>;
  readonly directoryUrl: string;
  readonly solvers: ReadonlyMap<string, Solver>;
  readonly challengeTypes?: readonly string[];
  readonly profile?: string;
  readonly lifetimeMs?: number;
  readonly preferredChain?: string;
  readonly log: Logger;
}

export class AcmeIssuer implements Issuer, Revoker, RenewalInfoSource {
  readonly id: string;
  readonly storageKey: string;
  readonly #o: AcmeIssuerOptions;

  constructor(options: AcmeIssuerOptions) {
    this.#o = options;
    this.id = options.directoryUrl;
    this.storageKey = issuerKey(options.directoryUrl);
  }

  async issue(request: IssueRequest): Promise<Issued> {
    const client = await this.#o.client();
    const identifiers: Identifier[] = request.names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n }));
    const csrDer = await createCsr({ names: request.names, privateKeyPem: request.keyPem });
    const log = this.#o.log;
    const replaces = request.replacing ? certId(request.replacing.chainPem) : undefined;
    const now = Date.now();
    const result = await obtainCertificate(client, {
      identifiers,
      csrDer,
      solvers: this.#o.solvers,
      ...(this.#o.challengeTypes ? { challengeTypes: this.#o.challengeTypes } : {}),
      ...(this.#o.profile !== undefined ? { profile: this.#o.profile } : {}),
      ...(this.#o.preferredChain !== undefined ? { preferredChain: this.#o.preferredChain } : {}),
      ...(this.#o.lifetimeMs !== undefined ? { notAfter: new Date(now + this.#o.lifetimeMs) } : {}),
      ...(replaces !== undefined ? { replaces } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
      onEvent: (e: AcmeEvent) => logEvent(log, e),
    });
    const ari = await this.#firstRenewalWindow(result.certificatePem, request.signal);
    return { chainPem: result.certificatePem, certificateUrl: result.certificateUrl, ...(ari ? { ari } : {}) };
  }

  /**
   * RFC 9773 §4.1: the CA's current renewal information for a certificate it issued. undefined when
   * its directory has no `renewalInfo` or the leaf has no Authority Key Identifier (no CertID);
   * rejects as AcmeClient.renewalInfo does (an AcmeProblem keeps the CA's type and detail).
   */
  async renewalInfo(chainPem: string, options: { readonly signal?: AbortSignal } = {}): Promise<RenewalInfo | undefined> {
    const id = certId(chainPem);
    if (id === undefined) return undefined;
    const client = await this.#o.client();
    return client.renewalInfo(id, options.signal ? { signal: options.signal } : {});
  }

  /**
   * "Clients SHOULD fetch a certificate's RenewalInfo immediately after issuance" (RFC 9773 §4.3).
   * A failure here is logged and does not fail the issuance: the certificate manager asks again
   * later, and the lifetime rule renews the certificate in time meanwhile.
   */
  async #firstRenewalWindow(chainPem: string, signal: AbortSignal | undefined): Promise<AriMeta | undefined> {
    try {
      const info = await this.renewalInfo(chainPem, signal ? { signal } : {});
      return info ? updatedAri(undefined, info, new Date()) : undefined;
    } catch (err) {
      this.#o.log.warn({ err }, 'fetching ACME renewal information failed; asking again later, renewing by lifetime meanwhile');
      return undefined;
    }
  }

  async revoke(chainPem: string, options: { reason?: number; signal?: AbortSignal }): Promise<void> {
    const client = await this.#o.client();
    const leaf = splitPemChain(chainPem)[0];
    if (leaf === undefined) throw new Error('revoking: no certificate in the stored chain');
    await client.revokeCert(parseCertificate(leaf).der, {
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }
}

/** RFC 9773 §4.1 CertID of the chain's leaf, or undefined when it has no AKI. */
function certId(chainPem: string): string | undefined {
  const leaf = splitPemChain(chainPem)[0];
  if (leaf === undefined) return undefined;
  const info = parseCertificate(leaf);
  return info.authorityKeyIdentifier ? certIdFromParts(info.authorityKeyIdentifier, info.serialNumber) : undefined;
}

function logEvent(log: Logger, e: AcmeEvent): void {
  if (e.type === 'error') {
    // The AcmeProblem goes under `err` whole, so its type, detail and subproblems reach the log line.
    const { error, ...rest } = e;
    log.warn({ ...rest, err: error }, `ACME error: ${error.message}`);
  } else {
    log.info(e, `ACME ${e.type}`);
  }
}
