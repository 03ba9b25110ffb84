/**
 * RFC 8555 §7.3, the account resource: newAccount (creation, and lookup of an existing account
 * with onlyReturnExisting, which is how a client recovers its account URL from its key, §7.3.1),
 * update, key rollover and deactivation. Each function sends through the AcmeSession it is given;
 * AcmeClient (client.ts) is their public face.
 */
import { signEabJws, signKeyChangeInner, loadAccountKey, type AccountKeyInput } from './jws.ts';
import { jsonObject, locationOf } from './responses.ts';
import type { AcmeSession, RequestOptions } from './session.ts';
import type { Account } from './types.ts';

export interface NewAccountRequest extends RequestOptions {
  readonly contact?: readonly string[];
  readonly termsOfServiceAgreed?: boolean;
  readonly onlyReturnExisting?: boolean;
  /** RFC 8555 §7.3.4; `hmacKey` is base64url as the CA hands it out. */
  readonly externalAccountBinding?: { readonly kid: string; readonly hmacKey: string };
  /**
   * Register this key instead of the session's current one; when the CA accepts it, the session
   * signs with it from then on (a new account after the CA refused the old key).
   */
  readonly accountKey?: AccountKeyInput;
}

export async function newAccount(s: AcmeSession, request: NewAccountRequest): Promise<Account & { readonly created: boolean }> {
  const dir = await s.directory(request);
  const key = request.accountKey === undefined ? s.key : loadAccountKey(request.accountKey);
  const payload: Record<string, unknown> = {};
  if (request.contact !== undefined) payload.contact = request.contact;
  if (request.termsOfServiceAgreed !== undefined) payload.termsOfServiceAgreed = request.termsOfServiceAgreed;
  if (request.onlyReturnExisting === true) payload.onlyReturnExisting = true;
  if (request.externalAccountBinding !== undefined) {
    const { kid, hmacKey } = request.externalAccountBinding;
    payload.externalAccountBinding = await signEabJws({ kid, hmacKey, url: dir.newAccount, accountJwk: key.jwk });
  }
  const res = await s.post(dir.newAccount, payload, { context: 'registering account', signal: request.signal, key, useJwk: true });
  const url = locationOf(res, 'registering account');
  s.useKey(key, url);
  return { ...jsonObject<Omit<Account, 'url'>>(res, 'registering account'), url, created: res.status === 201 };
}

/** POST-as-GET (§7.3), a contact update (§7.3.2) or deactivation (§7.3.6) of the account. */
export async function postToAccount(s: AcmeSession, payload: unknown, context: string, options: RequestOptions): Promise<Account> {
  const url = s.requireAccount();
  const res = await s.post(url, payload, { context, signal: options.signal });
  return { ...jsonObject<Omit<Account, 'url'>>(res, context), url };
}

/**
 * §7.3.5: the outer JWS is signed by the old key with `kid`; the inner by the new key with `jwk`,
 * no nonce, and the same url. The session switches keys only once the CA has accepted.
 */
export async function keyChange(s: AcmeSession, newKey: AccountKeyInput, options: RequestOptions): Promise<void> {
  const next = loadAccountKey(newKey);
  const dir = await s.directory(options);
  const accountUrl = s.requireAccount();
  const old = s.key;
  const inner = await signKeyChangeInner({ newKey: next, url: dir.keyChange, accountUrl, oldJwk: old.jwk });
  await s.post(dir.keyChange, inner, { context: 'changing account key', signal: options.signal, key: old });
  s.useKey(next);
}
