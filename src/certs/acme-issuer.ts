import { isIP } from 'node:net';
import type { AcmeClient } from '../acme/client.ts';
import { certIdFromParts } from '../acme/ari.ts';
import { obtainCertificate } from '../acme/flow.ts';
import type { AcmeEvent } from '../acme/events.ts';
import { findProblem } from '../acme/problem.ts';
import { refusalOf } from '../acme/problem-scope.ts';
import type { Identifier, RenewalInfo } from '../acme/types.ts';
import type { Solver } from '../challenges/solver.ts';
import type { Logger } from '../log.ts';
import { parseCertificate, splitPemChain } from '../x509/certificate.ts';
import type { AccountClient } from './account.ts';
import { IssuanceRefused, type IssuanceHold, type IssueRequest, type Issued, type Issuer, type Revoker } from './issuer.ts';
import { issuerKey } from './keys.ts';
import type { RenewalInfoSource } from './ari-refresh.ts';
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

/**
 * How long a name the CA refused for good (rejectedIdentifier, unsupportedIdentifier, caa, badCSR)
 * stays parked when nobody reloads or restarts: a day. Caddy's certmagic stops retrying such an
 * issuance (ErrNoRetry) until the config is loaded again; a CAA record or a CA's policy can
 * change without any change here, though, so one attempt a day lets a fixed name recover on its
 * own at the cost of one refused order a day, far below any CA's limits.
 */
export const PARK_MS = 24 * 3600_000;

export class AcmeIssuer implements Issuer, Revoker, RenewalInfoSource {
  readonly id: string;
  readonly storageKey: string;
  readonly #o: AcmeIssuerOptions;

  constructor(options: AcmeIssuerOptions) {
    this.#o = options;
    this.id = options.directoryUrl;
    this.storageKey = issuerKey(options.directoryUrl);
  }

  /**
   * Issues through the CA. When the CA no longer knows the account (accountDoesNotExist), the
   * account is registered again (AccountClient.recoverAccount) and the order retried once, as
   * certmagic does. A refusal that binds later attempts (Retry-After, or a problem no retry can
   * fix) is thrown as IssuanceRefused with the holds to record (its cause is the CA's problem).
   */
  async issue(request: IssueRequest): Promise<Issued> {
    let client: AcmeClient;
    try {
      client = await this.#o.client();
    } catch (err) {
      // Setting up the account made the request that failed: a rate limit there is the account's.
      throw this.#refusal(err, request.names, { newAccountUrl: findProblem(err)?.url });
    }
    // The registration the failed order was made with (read just before it): recovery is skipped
    // when another issuance has registered again meanwhile, so a burst of failed orders makes one newAccount.
    let generation = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt > 1) await (client as AccountClient).recoverAccount(generation, request.signal);
        if (canRecover(client)) generation = client.generation;
        return await this.#issueOnce(client, request);
      } catch (err) {
        if (attempt === 1 && findProblem(err, 'accountDoesNotExist') !== undefined && canRecover(client)) {
          this.#o.log.warn({ names: request.names, account: client.accountUrl, err }, `ACME error: ${findProblem(err)?.message ?? String(err)}; registering the account again, then ordering once more`);
          continue;
        }
        const newAccountUrl = await client.directory().then((d) => d.newAccount, () => undefined);
        throw this.#refusal(err, request.names, { newAccountUrl, accountUrl: client.accountUrl });
      }
    }
  }

  /** `err` as an IssuanceRefused when the CA's problem binds later attempts, else `err` itself. */
  #refusal(err: unknown, names: readonly string[], ctx: { newAccountUrl?: string | undefined; accountUrl?: string | undefined }): unknown {
    const problem = findProblem(err);
    if (problem === undefined) return err;
    const r = refusalOf(problem, {
      names,
      ...(ctx.accountUrl === undefined ? {} : { accountUrl: ctx.accountUrl }),
      ...(ctx.newAccountUrl === undefined ? {} : { newAccountUrl: ctx.newAccountUrl }),
    });
    const now = Date.now();
    const holds: IssuanceHold[] = [];
    const caProblem = { type: problem.type, detail: problem.detail, ...(problem.status === undefined ? {} : { status: problem.status }) };
    if (r.retryAfterMs !== undefined) {
      const subjects = r.scope.kind === 'account' ? [] : r.scope.kind === 'domains' ? r.scope.domains : r.scope.names;
      holds.push({ scope: r.scope.kind, subjects, until: now + r.retryAfterMs, parked: false, problem: caProblem });
    }
    if (r.permanentNames.length > 0) {
      holds.push({ scope: 'names', subjects: r.permanentNames, until: now + PARK_MS, parked: true, problem: r.permanentProblem ?? caProblem });
    }
    if (holds.length === 0) return err;
    const parts = holds.map((h) => {
      const until = new Date(h.until).toISOString();
      if (h.parked) return `the CA will not issue for ${h.subjects.join(', ')}: parked until a reload, a restart or ${until}`;
      const what = h.scope === 'account' ? 'any order of this account' : h.scope === 'domains' ? `names under ${h.subjects.join(', ')}` : h.subjects.join(', ');
      return `the CA asked to wait until ${until} before ordering ${what} again`;
    });
    return new IssuanceRefused(parts.join('; '), holds, { cause: err });
  }

  async #issueOnce(client: AcmeClient, request: IssueRequest): Promise<Issued> {
    const identifiers: Identifier[] = request.names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n }));
    // Dynamic: @peculiar/x509 is loaded at the first order, not by every config that could order.
    const csrDer = await (await import('../x509/csr.ts')).createCsr({ names: request.names, privateKeyPem: request.keyPem });
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
    const revokeOnce = (): Promise<void> =>
      client.revokeCert(parseCertificate(leaf).der, {
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    const generation = canRecover(client) ? client.generation : 0;
    try {
      await revokeOnce();
    } catch (err) {
      // As for orders: a CA that lost the account gets it registered again, then one more try.
      if (!canRecover(client) || findProblem(err, 'accountDoesNotExist') === undefined) throw err;
      await client.recoverAccount(generation, options.signal);
      await revokeOnce();
    }
  }
}

function canRecover(client: AcmeClient): client is AccountClient {
  return typeof (client as Partial<AccountClient>).recoverAccount === 'function';
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
