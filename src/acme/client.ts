/**
 * An RFC 8555 ACME client: one method per resource, named as the RFC names it (newAccount, newOrder,
 * finalizeOrder, revokeCert …), plus RFC 8738 IP identifiers, RFC 9773 renewal information and the
 * ACME profiles draft. It knows nothing of challenge solving or storage: flow.ts drives an issuance
 * on top of it, and callers keep the account key and URL.
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
import { MyServerError } from '../errors.ts';
import { HttpTransport, headerValue, linkTargets, parseRetryAfter, type HttpResponse } from './http.ts';
import {
  jwkThumbprint,
  loadAccountKey,
  signAcmeJws,
  signEabJws,
  signKeyChangeInner,
  type AccountKeyAlg,
  type AccountKeyInput,
  type SigningKey,
} from './jws.ts';
import { ACME_ERROR_NS } from './problem.ts';
import {
  authorizationFromResponse,
  jsonObject,
  locationOf,
  orderFromResponse,
  problemFromResponse,
} from './responses.ts';
import type { Account, Authorization, CertificateChain, Challenge, Directory, Identifier, Order, RenewalInfo } from './types.ts';

export interface AcmeClientOptions {
  readonly directoryUrl: string;
  /** The account's private key; ES256 (P-256) is the default elsewhere, ES384 and RS256 also work. */
  readonly accountKey: AccountKeyInput;
  /** The account URL from an earlier newAccount, so requests can use `kid` at once. */
  readonly accountUrl?: string;
  /** PEM roots to trust for the ACME server's own HTTPS, instead of the system's. */
  readonly caRoots?: string;
  readonly timeoutMs?: number;
  /** e.g. "my-server/1.2.3 acme"; RFC 8555 §6.1 asks clients to send one. */
  readonly userAgent?: string;
  /** Clock for Retry-After dates; tests inject one. */
  readonly now?: () => number;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export interface NewAccountRequest extends RequestOptions {
  readonly contact?: readonly string[];
  readonly termsOfServiceAgreed?: boolean;
  readonly onlyReturnExisting?: boolean;
  /** RFC 8555 §7.3.4; `hmacKey` is base64url as the CA hands it out. */
  readonly externalAccountBinding?: { readonly kid: string; readonly hmacKey: string };
  /**
   * Register this key instead of the client's current one; when the CA accepts it, the client
   * signs with it from then on (a new account after the CA refused the old key).
   */
  readonly accountKey?: AccountKeyInput;
}

export interface NewOrderRequest extends RequestOptions {
  readonly identifiers: readonly Identifier[];
  readonly notBefore?: Date | string;
  readonly notAfter?: Date | string;
  /** RFC 9773 §5: the CertID of the certificate this order replaces. */
  readonly replaces?: string;
  /** draft-ietf-acme-profiles: a name from the directory's meta.profiles. */
  readonly profile?: string;
}

export interface RevokeCertOptions extends RequestOptions {
  /** RFC 5280 §5.3.1 CRLReason code. */
  readonly reason?: number;
  /** Sign with the certificate's own key (jwk) instead of the account key (kid), RFC 8555 §7.6. */
  readonly certificateKey?: AccountKeyInput;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * RFC 8555 §6.5: "the client SHOULD retry the request using the new nonce". Bounded, so a CA that
 * rejects every nonce cannot keep us looping; ten makes a run of rejections at Pebble's heaviest
 * test setting (40%) a 1-in-10,000 event per request instead of 1-in-100 with five.
 */
const MAX_BAD_NONCE_ATTEMPTS = 10;
/** Nonces expire on the CA's side; a few in hand are enough for concurrent requests. */
const MAX_POOLED_NONCES = 16;

export class AcmeClient {
  readonly directoryUrl: string;
  readonly #http: HttpTransport;
  readonly #now: () => number;
  #key: SigningKey;
  #accountUrl: string | undefined;
  #directory: Promise<Directory> | undefined;
  #nonces: string[] = [];
  #thumbprint: { key: SigningKey; value: Promise<string> } | undefined;

  constructor(options: AcmeClientOptions) {
    this.directoryUrl = options.directoryUrl;
    this.#key = loadAccountKey(options.accountKey);
    this.#accountUrl = options.accountUrl;
    this.#now = options.now ?? Date.now;
    this.#http = new HttpTransport({
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      userAgent: options.userAgent ?? `my-server acme node/${process.versions.node}`,
      ...(options.caRoots === undefined ? {} : { caRoots: options.caRoots }),
    });
  }

  /** The account URL (the `kid`), known after newAccount or when given to the constructor. */
  get accountUrl(): string | undefined {
    return this.#accountUrl;
  }

  /** The public account key as a JWK (changes after keyChange). */
  get accountJwk(): JWK {
    return this.#key.jwk;
  }

  get accountKeyAlg(): AccountKeyAlg {
    return this.#key.alg;
  }

  /** The directory (RFC 8555 §7.1.1), fetched once and cached; a failed fetch is not cached. */
  async directory(options: RequestOptions = {}): Promise<Directory> {
    if (this.#directory === undefined) {
      // Fetched without any one caller's signal: the result is shared, and the timeout bounds it.
      const p = this.#fetchDirectory();
      this.#directory = p;
      void p.catch(() => {
        if (this.#directory === p) this.#directory = undefined;
      });
    }
    return abortable(this.#directory, options.signal, 'fetching directory');
  }

  /** A fresh nonce from newNonce (RFC 8555 §7.2). Requests normally take pooled nonces instead. */
  async newNonce(options: RequestOptions = {}): Promise<string> {
    const dir = await this.directory(options);
    const res = await this.#http.request({ method: 'HEAD', url: dir.newNonce, signal: options.signal, context: 'fetching nonce' });
    if (res.status >= 400) throw problemFromResponse(res, this.#now());
    const nonce = headerValue(res, 'replay-nonce');
    if (nonce === undefined || nonce === '') {
      throw new MyServerError('MS_ERR_ACME_PROTOCOL', `fetching nonce: no Replay-Nonce from ${dir.newNonce}`);
    }
    return nonce;
  }

  /**
   * Creates (or with onlyReturnExisting, finds) the account for this key (RFC 8555 §7.3). The
   * request carries the key as `jwk`; the Location header becomes accountUrl. `created` is true on
   * 201. A missing account with onlyReturnExisting is an AcmeProblem of type accountDoesNotExist.
   */
  async newAccount(request: NewAccountRequest = {}): Promise<Account & { readonly created: boolean }> {
    const dir = await this.directory(request);
    const key = request.accountKey === undefined ? this.#key : loadAccountKey(request.accountKey);
    const payload: Record<string, unknown> = {};
    if (request.contact !== undefined) payload.contact = request.contact;
    if (request.termsOfServiceAgreed !== undefined) payload.termsOfServiceAgreed = request.termsOfServiceAgreed;
    if (request.onlyReturnExisting === true) payload.onlyReturnExisting = true;
    if (request.externalAccountBinding !== undefined) {
      const { kid, hmacKey } = request.externalAccountBinding;
      payload.externalAccountBinding = await signEabJws({ kid, hmacKey, url: dir.newAccount, accountJwk: key.jwk });
    }
    const res = await this.#post(dir.newAccount, payload, { context: 'registering account', signal: request.signal, key, useJwk: true });
    const url = locationOf(res, 'registering account');
    this.#key = key;
    this.#accountUrl = url;
    return { ...jsonObject<Omit<Account, 'url'>>(res, 'registering account'), url, created: res.status === 201 };
  }

  /** The account object (POST-as-GET to the account URL). */
  async getAccount(options: RequestOptions = {}): Promise<Account> {
    const url = this.#requireAccount();
    const res = await this.#post(url, undefined, { context: 'fetching account', signal: options.signal });
    return { ...jsonObject<Omit<Account, 'url'>>(res, 'fetching account'), url };
  }

  /** RFC 8555 §7.3.2 */
  async updateAccount(update: { readonly contact: readonly string[] } & RequestOptions): Promise<Account> {
    const url = this.#requireAccount();
    const res = await this.#post(url, { contact: update.contact }, { context: 'updating account', signal: update.signal });
    return { ...jsonObject<Omit<Account, 'url'>>(res, 'updating account'), url };
  }

  /**
   * Rolls the account over to `newKey` (RFC 8555 §7.3.5). The outer JWS is signed by the old key
   * with `kid`; the inner by the new key with `jwk`, no nonce, and the same url. When the CA
   * accepts, this client signs with the new key from then on.
   */
  async keyChange(newKey: AccountKeyInput, options: RequestOptions = {}): Promise<void> {
    const next = loadAccountKey(newKey);
    const dir = await this.directory(options);
    const accountUrl = this.#requireAccount();
    const old = this.#key;
    const inner = await signKeyChangeInner({ newKey: next, url: dir.keyChange, accountUrl, oldJwk: old.jwk });
    await this.#post(dir.keyChange, inner, { context: 'changing account key', signal: options.signal, key: old });
    this.#key = next;
  }

  /** RFC 8555 §7.3.6. The account can never be used again. */
  async deactivateAccount(options: RequestOptions = {}): Promise<Account> {
    const url = this.#requireAccount();
    const res = await this.#post(url, { status: 'deactivated' }, { context: 'deactivating account', signal: options.signal });
    return { ...jsonObject<Omit<Account, 'url'>>(res, 'deactivating account'), url };
  }

  /** RFC 8555 §7.4; `replaces` from RFC 9773 §5, `profile` from the profiles draft. */
  async newOrder(request: NewOrderRequest): Promise<Order> {
    const dir = await this.directory(request);
    const payload: Record<string, unknown> = {
      identifiers: request.identifiers.map((i) => ({ type: i.type, value: i.type === 'ip' ? canonicalIp(i.value) : i.value })),
    };
    if (request.notBefore !== undefined) payload.notBefore = rfc3339(request.notBefore);
    if (request.notAfter !== undefined) payload.notAfter = rfc3339(request.notAfter);
    if (request.replaces !== undefined) payload.replaces = request.replaces;
    if (request.profile !== undefined) payload.profile = request.profile;
    const res = await this.#post(dir.newOrder, payload, { context: 'creating order', signal: request.signal });
    return orderFromResponse(res, this.#now(), locationOf(res, 'creating order'), 'creating order');
  }

  async getOrder(url: string, options: RequestOptions = {}): Promise<Order> {
    const res = await this.#post(url, undefined, { context: 'fetching order', signal: options.signal });
    return orderFromResponse(res, this.#now(), url, 'fetching order');
  }

  async getAuthorization(url: string, options: RequestOptions = {}): Promise<Authorization> {
    const res = await this.#post(url, undefined, { context: 'fetching authorization', signal: options.signal });
    return authorizationFromResponse(res, this.#now(), url, 'fetching authorization');
  }

  async getChallenge(url: string, options: RequestOptions = {}): Promise<Challenge> {
    const res = await this.#post(url, undefined, { context: 'fetching challenge', signal: options.signal });
    return { url, ...jsonObject<Omit<Challenge, 'url'>>(res, 'fetching challenge') };
  }

  /** Tells the CA the challenge is ready (RFC 8555 §7.5.1: the payload is an empty object). */
  async respondToChallenge(url: string, options: RequestOptions = {}): Promise<Challenge> {
    const res = await this.#post(url, {}, { context: 'responding to challenge', signal: options.signal });
    return { url, ...jsonObject<Omit<Challenge, 'url'>>(res, 'responding to challenge') };
  }

  /** RFC 8555 §7.5.2 */
  async deactivateAuthorization(url: string, options: RequestOptions = {}): Promise<Authorization> {
    const res = await this.#post(url, { status: 'deactivated' }, { context: 'deactivating authorization', signal: options.signal });
    return authorizationFromResponse(res, this.#now(), url, 'deactivating authorization');
  }

  /** Sends the CSR (DER) to the order's finalize URL (RFC 8555 §7.4). */
  async finalizeOrder(order: Pick<Order, 'url' | 'finalize'>, csrDer: Uint8Array, options: RequestOptions = {}): Promise<Order> {
    const payload = { csr: Buffer.from(csrDer).toString('base64url') };
    const res = await this.#post(order.finalize, payload, { context: 'finalizing order', signal: options.signal });
    return orderFromResponse(res, this.#now(), order.url, 'finalizing order');
  }

  /** The PEM chain and the URLs of alternate chains (RFC 8555 §7.4.2). */
  async downloadCertificate(url: string, options: RequestOptions = {}): Promise<CertificateChain> {
    const res = await this.#post(url, undefined, {
      context: 'downloading certificate',
      signal: options.signal,
      accept: 'application/pem-certificate-chain',
    });
    const pem = res.body.toString('utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new MyServerError('MS_ERR_ACME_PROTOCOL', `downloading certificate: ${url} returned no PEM certificate`);
    }
    return { pem, alternates: linkTargets(res, 'alternate') };
  }

  /**
   * Revokes a certificate (RFC 8555 §7.6), signed with the account key (`kid`) or, when
   * `certificateKey` is given, with the certificate's own key (`jwk`).
   */
  async revokeCert(certDer: Uint8Array, options: RevokeCertOptions = {}): Promise<void> {
    const dir = await this.directory(options);
    const payload: Record<string, unknown> = { certificate: Buffer.from(certDer).toString('base64url') };
    if (options.reason !== undefined) payload.reason = options.reason;
    const certKey = options.certificateKey === undefined ? undefined : loadAccountKey(options.certificateKey);
    await this.#post(dir.revokeCert, payload, {
      context: 'revoking certificate',
      signal: options.signal,
      ...(certKey === undefined ? {} : { key: certKey, useJwk: true }),
    });
  }

  /**
   * The CA's suggested renewal window for a certificate (RFC 9773 §4.1: a plain GET of
   * renewalInfo/<certID>, see ari.ts for the CertID). undefined when the directory has no
   * renewalInfo. A window whose end is not after its start is MS_ERR_ACME_PROTOCOL (§4.2 asks the
   * client to treat it as absent and decide for itself).
   */
  async renewalInfo(certId: string, options: RequestOptions = {}): Promise<RenewalInfo | undefined> {
    const dir = await this.directory(options);
    if (dir.renewalInfo === undefined) return undefined;
    const url = `${dir.renewalInfo.replace(/\/+$/, '')}/${certId}`;
    const res = await this.#http.request({ method: 'GET', url, signal: options.signal, context: 'fetching renewal info' });
    this.#keepNonce(res);
    if (res.status >= 400) throw problemFromResponse(res, this.#now());
    const body = jsonObject<{ suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown }>(res, 'fetching renewal info');
    const start = new Date(String(body.suggestedWindow?.start));
    const end = new Date(String(body.suggestedWindow?.end));
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end.getTime() <= start.getTime()) {
      throw new MyServerError('MS_ERR_ACME_PROTOCOL', `fetching renewal info: invalid suggestedWindow from ${url}`);
    }
    const retryAfterMs = parseRetryAfter(headerValue(res, 'retry-after'), this.#now());
    return {
      suggestedWindow: { start, end },
      ...(typeof body.explanationURL === 'string' ? { explanationURL: body.explanationURL } : {}),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }

  /** token || '.' || base64url(SHA-256 JWK thumbprint of the account key) (RFC 8555 §8.1). */
  async keyAuthorization(token: string): Promise<string> {
    const key = this.#key;
    if (this.#thumbprint?.key !== key) this.#thumbprint = { key, value: jwkThumbprint(key.jwk) };
    return `${token}.${await this.#thumbprint.value}`;
  }

  /** Closes idle keep-alive sockets. The client stays usable. */
  close(): void {
    this.#http.close();
  }

  async #fetchDirectory(): Promise<Directory> {
    const res = await this.#http.request({ method: 'GET', url: this.directoryUrl, context: 'fetching directory' });
    if (res.status >= 400) {
      // Name the URL: a wrong acme_ca usually shows up here, as a plain 404 page.
      throw new MyServerError('MS_ERR_ACME_PROTOCOL', `fetching directory ${this.directoryUrl}`, { cause: problemFromResponse(res, this.#now()) });
    }
    const dir = jsonObject<Partial<Directory>>(res, 'fetching directory');
    for (const field of ['newNonce', 'newAccount', 'newOrder'] as const) {
      if (typeof dir[field] !== 'string') {
        throw new MyServerError('MS_ERR_ACME_PROTOCOL', `fetching directory: ${this.directoryUrl} has no ${field}`);
      }
    }
    return dir as Directory;
  }

  /**
   * A signed POST (RFC 8555 §6.2), `payload` undefined meaning POST-as-GET. Retries badNonce as
   * §6.5 allows: "An error response with the 'badNonce' error type MUST include the Replay-Nonce
   * header field with a fresh nonce that the server will accept in a retry of the original query.
   * On receiving such a response, a client SHOULD retry the request using the new nonce."
   */
  async #post(
    url: string,
    payload: unknown,
    o: { context: string; signal?: AbortSignal | undefined; key?: SigningKey; useJwk?: boolean; accept?: string },
  ): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      const key = o.key ?? this.#key;
      const kid = o.useJwk === true ? undefined : this.#requireAccount();
      const nonce = await this.#takeNonce(o.signal);
      const jws = await signAcmeJws({ key, url, nonce, payload, ...(kid === undefined ? {} : { kid }) });
      const res = await this.#http.request({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/jose+json', ...(o.accept === undefined ? {} : { accept: o.accept }) },
        body: JSON.stringify(jws),
        signal: o.signal,
        context: o.context,
      });
      this.#keepNonce(res);
      if (res.status < 400) return res;
      const problem = problemFromResponse(res, this.#now());
      if (problem.type === `${ACME_ERROR_NS}badNonce` && attempt < MAX_BAD_NONCE_ATTEMPTS) continue;
      throw problem;
    }
  }

  async #takeNonce(signal: AbortSignal | undefined): Promise<string> {
    return this.#nonces.pop() ?? this.newNonce({ ...(signal === undefined ? {} : { signal }) });
  }

  #keepNonce(res: HttpResponse): void {
    const nonce = headerValue(res, 'replay-nonce');
    if (nonce === undefined || nonce === '') return;
    this.#nonces.push(nonce);
    if (this.#nonces.length > MAX_POOLED_NONCES) this.#nonces.shift();
  }

  #requireAccount(): string {
    if (this.#accountUrl === undefined) {
      throw new MyServerError('MS_ERR_USAGE', 'no ACME account URL: call newAccount() or pass accountUrl');
    }
    return this.#accountUrl;
  }
}

/**
 * RFC 8738 §3: an IPv6 identifier is in the text form of RFC 5952 §4. The WHATWG URL parser
 * produces exactly that form (lower case, longest zero run compressed), brackets stripped here.
 */
function canonicalIp(value: string): string {
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  // IPv4 stays as written; so do IPv4-mapped IPv6 forms, which RFC 5952 §5 writes with a dotted quad.
  if (!bare.includes(':') || bare.includes('.')) return bare;
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return bare; // not an address: let the CA say so in its own words
  }
}

function rfc3339(v: Date | string): string {
  return typeof v === 'string' ? v : v.toISOString();
}

/** Waits for a shared promise while letting one caller stop waiting. */
async function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, context: string): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) throw new MyServerError('MS_ERR_ABORTED', `${context}: aborted`, { cause: signal.reason });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new MyServerError('MS_ERR_ABORTED', `${context}: aborted`, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
