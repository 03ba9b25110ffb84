/**
 * An RFC 8555 ACME client: one method per resource, named as the RFC names it (newAccount, newOrder,
 * finalizeOrder, revokeCert …), plus RFC 8738 IP identifiers, RFC 9773 renewal information and the
 * ACME profiles draft. It knows nothing of challenge solving or storage: flow.ts drives an issuance
 * on top of it, and callers keep the account key and URL.
 *
 * Layout: this class is the public face; the requests live by resource in account.ts (§7.3),
 * order.ts (§7.4, §7.5) and certificate.ts (§7.4.2, §7.6, RFC 9773), and the state they share
 * (transport, directory, nonce pool, key, account URL, the signed POST) in session.ts.
 *
 * Contract
 * - Concurrency: one AcmeClient may be used by many callers at once. Requests share a pool of
 *   nonces (every response's Replay-Nonce is kept; each request takes its own), the cached
 *   directory and the keep-alive sockets. After keyChange() resolves, later requests are signed
 *   with the new key; a request signed with the old key while the change was in flight may be
 *   refused by the CA (its error is surfaced, not retried).
 * - Reads are POST-as-GET (RFC 8555 §6.3); only the directory, newNonce and renewalInfo are plain
 *   GET/HEAD, as the RFCs require.
 * - Every request is bounded by `timeoutMs` (default 30 s) and honours the caller's AbortSignal.
 *   The only automatic retry is a bounded one for badNonce (RFC 8555 §6.5). Nothing here sleeps on
 *   Retry-After: it is reported (AcmeProblem.retryAfter, Order.retryAfterMs …) for the caller to
 *   decide, so a CA asking for an hour's pause never blocks a request for an hour.
 * - Errors, by `code`:
 *   MS_ERR_ACME_PROBLEM  the CA answered with an error: an AcmeProblem (problem.ts) carrying the
 *                        CA's type URN, detail, subproblems, status and Retry-After. Non-JSON error
 *                        pages become AcmeProblems of type "about:blank" with the HTTP status.
 *   MS_ERR_ACME_NETWORK  no answer: connection, TLS (e.g. a root not in `caRoots`) or timeout.
 *   MS_ERR_ACME_PROTOCOL the CA answered 2xx with something this client cannot use (missing
 *                        Location, malformed JSON, a renewal window that ends before it starts).
 *   MS_ERR_ABORTED       the caller's signal aborted.
 *   MS_ERR_USAGE         a request needing an account before newAccount(), or an unusable key.
 */
import type { JWK } from 'jose';
import * as account from './account.ts';
import type { NewAccountRequest } from './account.ts';
import * as certificate from './certificate.ts';
import type { RevokeCertOptions } from './certificate.ts';
import type { AccountKeyAlg, AccountKeyInput } from './jws.ts';
import * as order from './order.ts';
import type { NewOrderRequest } from './order.ts';
import { AcmeSession, type AcmeClientOptions, type RequestOptions } from './session.ts';
import type { Account, Authorization, CertificateChain, Challenge, Directory, Order, RenewalInfo } from './types.ts';

export type { AcmeClientOptions, RequestOptions } from './session.ts';
export type { NewAccountRequest } from './account.ts';
export type { NewOrderRequest } from './order.ts';
export type { RevokeCertOptions } from './certificate.ts';

export class AcmeClient {
  readonly #s: AcmeSession;

  constructor(options: AcmeClientOptions) {
    this.#s = new AcmeSession(options);
  }

  get directoryUrl(): string {
    return this.#s.directoryUrl;
  }

  /** The account URL (the `kid`), known after newAccount or when given to the constructor. */
  get accountUrl(): string | undefined {
    return this.#s.accountUrl;
  }

  /** The public account key as a JWK (changes after keyChange). */
  get accountJwk(): JWK {
    return this.#s.accountJwk;
  }

  get accountKeyAlg(): AccountKeyAlg {
    return this.#s.key.alg;
  }

  /** The directory (RFC 8555 §7.1.1), fetched once and cached; a failed fetch is not cached. */
  directory(options: RequestOptions = {}): Promise<Directory> {
    return this.#s.directory(options);
  }

  /** A fresh nonce from newNonce (RFC 8555 §7.2). Requests normally take pooled nonces instead. */
  newNonce(options: RequestOptions = {}): Promise<string> {
    return this.#s.newNonce(options);
  }

  /**
   * Creates (or with onlyReturnExisting, finds) the account for this key (RFC 8555 §7.3). The
   * request carries the key as `jwk`; the Location header becomes accountUrl. `created` is true on
   * 201. A missing account with onlyReturnExisting is an AcmeProblem of type accountDoesNotExist.
   */
  newAccount(request: NewAccountRequest = {}): Promise<Account & { readonly created: boolean }> {
    return account.newAccount(this.#s, request);
  }

  /** The account object (POST-as-GET to the account URL). */
  getAccount(options: RequestOptions = {}): Promise<Account> {
    return account.postToAccount(this.#s, undefined, 'fetching account', options);
  }

  /** RFC 8555 §7.3.2 */
  updateAccount(update: { readonly contact: readonly string[] } & RequestOptions): Promise<Account> {
    return account.postToAccount(this.#s, { contact: update.contact }, 'updating account', update);
  }

  /**
   * Rolls the account over to `newKey` (RFC 8555 §7.3.5). When the CA accepts, this client signs
   * with the new key from then on.
   */
  keyChange(newKey: AccountKeyInput, options: RequestOptions = {}): Promise<void> {
    return account.keyChange(this.#s, newKey, options);
  }

  /** RFC 8555 §7.3.6. The account can never be used again. */
  deactivateAccount(options: RequestOptions = {}): Promise<Account> {
    return account.postToAccount(this.#s, { status: 'deactivated' }, 'deactivating account', options);
  }

  /** RFC 8555 §7.4; `replaces` from RFC 9773 §5, `profile` from the profiles draft. */
  newOrder(request: NewOrderRequest): Promise<Order> {
    return order.newOrder(this.#s, request);
  }

  getOrder(url: string, options: RequestOptions = {}): Promise<Order> {
    return order.postToOrder(this.#s, url, url, undefined, 'fetching order', options);
  }

  getAuthorization(url: string, options: RequestOptions = {}): Promise<Authorization> {
    return order.postToAuthorization(this.#s, url, undefined, 'fetching authorization', options);
  }

  getChallenge(url: string, options: RequestOptions = {}): Promise<Challenge> {
    return order.postToChallenge(this.#s, url, undefined, 'fetching challenge', options);
  }

  /** Tells the CA the challenge is ready (RFC 8555 §7.5.1: the payload is an empty object). */
  respondToChallenge(url: string, options: RequestOptions = {}): Promise<Challenge> {
    return order.postToChallenge(this.#s, url, {}, 'responding to challenge', options);
  }

  /** RFC 8555 §7.5.2 */
  deactivateAuthorization(url: string, options: RequestOptions = {}): Promise<Authorization> {
    return order.postToAuthorization(this.#s, url, { status: 'deactivated' }, 'deactivating authorization', options);
  }

  /** Sends the CSR (DER) to the order's finalize URL (RFC 8555 §7.4). */
  async finalizeOrder(o: Pick<Order, 'url' | 'finalize'>, csrDer: Uint8Array, options: RequestOptions = {}): Promise<Order> {
    const payload = { csr: Buffer.from(csrDer).toString('base64url') };
    return order.postToOrder(this.#s, o.url, o.finalize, payload, 'finalizing order', options);
  }

  /** The PEM chain and the URLs of alternate chains (RFC 8555 §7.4.2). */
  downloadCertificate(url: string, options: RequestOptions = {}): Promise<CertificateChain> {
    return certificate.downloadCertificate(this.#s, url, options);
  }

  /**
   * Revokes a certificate (RFC 8555 §7.6), signed with the account key (`kid`) or, when
   * `certificateKey` is given, with the certificate's own key (`jwk`).
   */
  revokeCert(certDer: Uint8Array, options: RevokeCertOptions = {}): Promise<void> {
    return certificate.revokeCert(this.#s, certDer, options);
  }

  /**
   * The CA's suggested renewal window for a certificate (RFC 9773 §4.1: a plain GET of
   * renewalInfo/<certID>, see ari.ts for the CertID). undefined when the directory has no
   * renewalInfo. A window whose end is not after its start is MS_ERR_ACME_PROTOCOL (§4.2 asks the
   * client to treat it as absent and decide for itself).
   */
  renewalInfo(certId: string, options: RequestOptions = {}): Promise<RenewalInfo | undefined> {
    return certificate.renewalInfo(this.#s, certId, options);
  }

  /** token || '.' || base64url(SHA-256 JWK thumbprint of the account key) (RFC 8555 §8.1). */
  async keyAuthorization(token: string): Promise<string> {
    return `${token}.${await this.#s.thumbprint()}`;
  }

  /** Closes idle keep-alive sockets. The client stays usable. */
  close(): void {
    this.#s.close();
  }
}
