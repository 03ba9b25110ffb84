/**
 * The state every RFC 8555 request shares, apart from the resources that use it: the HTTP
 * transport, the cached directory, the nonce pool, the account key and URL, and the signed POST
 * with its badNonce retry. account.ts, order.ts and certificate.ts send their requests through one
 * AcmeSession; AcmeClient (client.ts) owns the session and is the public face of all three.
 *
 * Concurrency: one session serves many requests at once. Each request takes its own nonce; the key
 * and account URL are read when a request is signed, so a change made by newAccount or keyChange
 * applies to the requests signed after it.
 */
import type { JWK } from 'jose';
import { MyServerError } from '../errors.ts';
import { HttpTransport, headerValue, type HttpResponse } from './http.ts';
import { jwkThumbprint, loadAccountKey, signAcmeJws, type AccountKeyInput, type SigningKey } from './jws.ts';
import { ACME_ERROR_NS } from './problem.ts';
import { jsonObject, problemFromResponse } from './responses.ts';
import type { Directory } from './types.ts';

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
  readonly signal?: AbortSignal | undefined;
}

export interface PostOptions {
  /** The gerund that prefixes errors: "creating order". */
  readonly context: string;
  readonly signal?: AbortSignal | undefined;
  /** Sign with this key instead of the account key (newAccount with a new key, keyChange's outer JWS). */
  readonly key?: SigningKey;
  /** Identify the signer by `jwk` instead of the account URL as `kid` (RFC 8555 §6.2). */
  readonly useJwk?: boolean;
  readonly accept?: string;
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

export class AcmeSession {
  readonly directoryUrl: string;
  readonly now: () => number;
  readonly #http: HttpTransport;
  #key: SigningKey;
  #accountUrl: string | undefined;
  #directory: Promise<Directory> | undefined;
  #nonces: string[] = [];
  #thumbprint: { key: SigningKey; value: Promise<string> } | undefined;

  constructor(options: AcmeClientOptions) {
    this.directoryUrl = options.directoryUrl;
    this.#key = loadAccountKey(options.accountKey);
    this.#accountUrl = options.accountUrl;
    this.now = options.now ?? Date.now;
    this.#http = new HttpTransport({
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      userAgent: options.userAgent ?? `my-server acme node/${process.versions.node}`,
      ...(options.caRoots === undefined ? {} : { caRoots: options.caRoots }),
    });
  }

  /** The key requests are signed with. */
  get key(): SigningKey {
    return this.#key;
  }

  get accountUrl(): string | undefined {
    return this.#accountUrl;
  }

  get accountJwk(): JWK {
    return this.#key.jwk;
  }

  /** Signs with `key` from now on (keyChange accepted), and as `accountUrl` when one is given (newAccount). */
  useKey(key: SigningKey, accountUrl?: string): void {
    this.#key = key;
    if (accountUrl !== undefined) this.#accountUrl = accountUrl;
  }

  /** The account URL, or MS_ERR_USAGE before newAccount when none was given. */
  requireAccount(): string {
    if (this.#accountUrl === undefined) {
      throw new MyServerError('MS_ERR_USAGE', 'no ACME account URL: call newAccount() or pass accountUrl');
    }
    return this.#accountUrl;
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
    if (res.status >= 400) throw problemFromResponse(res, this.now());
    const nonce = headerValue(res, 'replay-nonce');
    if (nonce === undefined || nonce === '') {
      throw new MyServerError('MS_ERR_ACME_PROTOCOL', `fetching nonce: no Replay-Nonce from ${dir.newNonce}`);
    }
    return nonce;
  }

  /**
   * A signed POST (RFC 8555 §6.2), `payload` undefined meaning POST-as-GET. Retries badNonce as
   * §6.5 allows: "An error response with the 'badNonce' error type MUST include the Replay-Nonce
   * header field with a fresh nonce that the server will accept in a retry of the original query.
   * On receiving such a response, a client SHOULD retry the request using the new nonce."
   */
  async post(url: string, payload: unknown, o: PostOptions): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      const key = o.key ?? this.#key;
      const kid = o.useJwk === true ? undefined : this.requireAccount();
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
      const problem = problemFromResponse(res, this.now());
      if (problem.type === `${ACME_ERROR_NS}badNonce` && attempt < MAX_BAD_NONCE_ATTEMPTS) continue;
      throw problem;
    }
  }

  /**
   * An unsigned GET, for the few resources the RFCs read without a JWS (renewalInfo, RFC 9773
   * §4.1). A CA error is thrown as its AcmeProblem; a nonce in the answer is kept all the same.
   */
  async get(url: string, o: { readonly context: string; readonly signal?: AbortSignal | undefined }): Promise<HttpResponse> {
    const res = await this.#http.request({ method: 'GET', url, signal: o.signal, context: o.context });
    this.#keepNonce(res);
    if (res.status >= 400) throw problemFromResponse(res, this.now());
    return res;
  }

  /** The SHA-256 JWK thumbprint of the current key (RFC 7638), computed once per key. */
  thumbprint(): Promise<string> {
    const key = this.#key;
    if (this.#thumbprint?.key !== key) this.#thumbprint = { key, value: jwkThumbprint(key.jwk) };
    return this.#thumbprint.value;
  }

  /** Closes idle keep-alive sockets. The session stays usable. */
  close(): void {
    this.#http.close();
  }

  async #fetchDirectory(): Promise<Directory> {
    const res = await this.#http.request({ method: 'GET', url: this.directoryUrl, context: 'fetching directory' });
    if (res.status >= 400) {
      // Name the URL: a wrong acme_ca usually shows up here, as a plain 404 page.
      throw new MyServerError('MS_ERR_ACME_PROTOCOL', `fetching directory ${this.directoryUrl}`, { cause: problemFromResponse(res, this.now()) });
    }
    const dir = jsonObject<Partial<Directory>>(res, 'fetching directory');
    for (const field of ['newNonce', 'newAccount', 'newOrder'] as const) {
      if (typeof dir[field] !== 'string') {
        throw new MyServerError('MS_ERR_ACME_PROTOCOL', `fetching directory: ${this.directoryUrl} has no ${field}`);
      }
    }
    return dir as Directory;
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
