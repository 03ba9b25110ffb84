import { AcmeClient, type AcmeClientOptions } from '../acme/client.ts';
import { generateAccountKey } from '../acme/jws.ts';
import { findProblem } from '../acme/problem.ts';
import { MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { accountKeyKey, accountLockName, accountMetaKey, issuerKey } from './keys.ts';

export interface AccountOptions {
  readonly directoryUrl: string;
  readonly email?: string;
  readonly caRoots?: string;
  readonly eab?: { readonly keyId: string; readonly macKey: string };
  readonly storage: Storage;
  readonly log: Logger;
  readonly userAgent?: string;
  readonly signal?: AbortSignal | undefined;
}

interface AccountRecord {
  readonly url: string;
  readonly contact: readonly string[];
  readonly createdAt: string;
}

/**
 * An AcmeClient bound to this CA's account, created once and reused on every later run.
 *
 * Crash safety: the key is stored (atomically) BEFORE the CA hears of it, so a crash between
 * newAccount and storing account.json leaves a key whose account the CA already knows; the next run
 * asks again with the same key and RFC 8555 §7.3.1 returns the existing account (200), so an
 * account is never created twice for one key. The account lock keeps two processes from each
 * generating a key at once.
 */
export async function loadOrCreateAccount(options: AccountOptions): Promise<AccountClient> {
  const { storage, directoryUrl, email, log } = options;
  const issuer = issuerKey(directoryUrl);
  const keyKey = accountKeyKey(issuer, email);
  const metaKey = accountMetaKey(issuer, email);
  const contact = email ? [`mailto:${email}`] : [];

  await storage.lock(accountLockName(issuer), { signal: options.signal, timeoutMs: 120_000 });
  // An instance paused past the lease gets FencedWriteError instead of replacing the account
  // another one made meanwhile; the retry loads that account.
  const fenced = { fence: storage.fence?.(accountLockName(issuer)) };
  try {
    let keyPem = (await storage.get(keyKey))?.toString('utf8');
    if (keyPem === undefined) {
      keyPem = await generateAccountKey('ES256');
      await storage.put(keyKey, keyPem, fenced);
      log.info({ issuer: directoryUrl }, 'generated a new ACME account key');
    }
    const metaBytes = await storage.get(metaKey);
    const record = metaBytes ? parseAccountRecord(metaBytes, metaKey) : undefined;
    const client = new AccountClient(
      {
        directoryUrl,
        accountKey: keyPem,
        ...(record ? { accountUrl: record.url } : {}),
        ...(options.caRoots !== undefined ? { caRoots: options.caRoots } : {}),
        ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
      },
      options,
    );
    if (record) {
      if (!sameContact(record.contact, contact)) {
        try {
          await client.updateAccount({ contact, signal: options.signal });
        } catch (err) {
          if (findProblem(err, 'accountDoesNotExist') === undefined) throw err;
          // The CA lost the account (see AccountClient.recoverAccount): registering again under
          // the lock we hold already sends the new contact.
          await client.reRegister(record.url, options.signal);
          return client;
        }
        await storage.put(metaKey, JSON.stringify({ ...record, contact }, null, 2), fenced);
        log.info({ issuer: directoryUrl, contact }, 'updated ACME account contact');
      }
      return client;
    }
    const account = await client.newAccount({
      contact,
      termsOfServiceAgreed: true,
      ...(options.eab ? { externalAccountBinding: { kid: options.eab.keyId, hmacKey: options.eab.macKey } } : {}),
      signal: options.signal,
    });
    const rec: AccountRecord = { url: account.url, contact, createdAt: new Date().toISOString() };
    await storage.put(metaKey, JSON.stringify(rec, null, 2), fenced);
    log.info({ issuer: directoryUrl, account: account.url, created: account.created }, 'ACME account ready');
    return client;
  } finally {
    await storage.unlock(accountLockName(issuer));
  }
}

/**
 * The account's client, able to register the account again when the CA no longer knows it
 * (RFC 8555 §6.7 accountDoesNotExist: a CA that lost its database, a test CA restarted, an
 * account purged). Callers that get accountDoesNotExist call recoverAccount() and retry once.
 */
export class AccountClient extends AcmeClient {
  readonly #o: AccountOptions;
  #recovering: Promise<void> | undefined;
  #generation = 0;

  constructor(client: AcmeClientOptions, options: AccountOptions) {
    super(client);
    this.#o = options;
  }

  /**
   * Which registration of the account requests are signed as; each recovery adds one. Read it
   * before a request, and pass it to recoverAccount if the CA says the account does not exist.
   * (Not the account URL: a CA may give the same key the same URL again, as Pebble does.)
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Registers the account again after the CA answered accountDoesNotExist to a request made at
   * `generation`. Concurrent callers share one registration, and a caller whose generation was
   * already replaced returns at once, so a burst of failed orders makes one newAccount.
   *
   * First with the same key: "If the server receives a newAccount request signed with a key for
   * which it already has an account registered with the provided account key, then it MUST return
   * a response with status code 200 (OK)" (RFC 8555 §7.3.1), and a CA that forgot the key creates
   * a new account for it. Only when the CA refuses that key (an AcmeProblem, e.g. badPublicKey or
   * a key it blocked) is a new key generated; the old one is kept beside it as
   * account.key.<time>.bak, since an account key is the only proof of ownership of its
   * certificates (revocation) and must never be thrown away by a program.
   */
  async recoverAccount(generation: number, signal?: AbortSignal): Promise<void> {
    if (this.#recovering === undefined) {
      if (generation !== this.#generation) return;
      const p = this.#recoverLocked(this.accountUrl, signal);
      this.#recovering = p;
      void p.then(
        () => (this.#recovering = undefined),
        () => (this.#recovering = undefined),
      );
    }
    return this.#recovering;
  }

  async #recoverLocked(lostUrl: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    const { storage, directoryUrl } = this.#o;
    const lock = accountLockName(issuerKey(directoryUrl));
    await storage.lock(lock, { ...(signal ? { signal } : {}), timeoutMs: 120_000 });
    try {
      await this.reRegister(lostUrl, signal);
    } finally {
      await storage.unlock(lock);
    }
  }

  /** recoverAccount's work; the caller holds the account lock. */
  async reRegister(lostUrl: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    const { storage, directoryUrl, email, log } = this.#o;
    const issuer = issuerKey(directoryUrl);
    // The caller holds the account lock: its writes carry the lock's fencing token (Redis), as
    // loadOrCreateAccount's do.
    const fenced = { fence: storage.fence?.(accountLockName(issuer)) };
    const keyKey = accountKeyKey(issuer, email);
    const contact = email ? [`mailto:${email}`] : [];
    const request = {
      contact,
      termsOfServiceAgreed: true,
      ...(this.#o.eab ? { externalAccountBinding: { kid: this.#o.eab.keyId, hmacKey: this.#o.eab.macKey } } : {}),
      ...(signal ? { signal } : {}),
    };
    log.warn({ issuer: directoryUrl, account: lostUrl }, 'the CA no longer knows this ACME account (accountDoesNotExist); registering the account key again');
    let account: Awaited<ReturnType<AcmeClient['newAccount']>>;
    try {
      account = await this.newAccount(request);
    } catch (err) {
      const problem = findProblem(err);
      // Only a refusal of the key itself calls for a new key; a network error or a rate limit
      // would refuse the new key just the same.
      if (problem === undefined || problem.status === 429 || (problem.status !== undefined && problem.status >= 500)) throw err;
      log.warn({ issuer: directoryUrl, err }, `the CA refused the old account key (${problem.type}); creating an account with a new key`);
      const oldKeyPem = (await storage.get(keyKey))?.toString('utf8');
      if (oldKeyPem !== undefined) {
        const backup = `${keyKey}.${new Date().toISOString().replace(/[:.]/g, '-')}.bak`;
        await storage.put(backup, oldKeyPem, fenced);
        log.warn({ backup }, 'kept the old ACME account key');
      }
      const keyPem = await generateAccountKey('ES256');
      // Stored before the CA hears of it, as at first registration (see loadOrCreateAccount).
      await storage.put(keyKey, keyPem, fenced);
      account = await this.newAccount({ ...request, accountKey: keyPem });
    }
    this.#generation++;
    const rec: AccountRecord = { url: account.url, contact, createdAt: new Date().toISOString() };
    await storage.put(accountMetaKey(issuer, email), JSON.stringify(rec, null, 2), fenced);
    log.warn({ issuer: directoryUrl, account: account.url, previous: lostUrl, created: account.created }, 'ACME account registered again');
  }
}

function parseAccountRecord(bytes: Buffer, key: string): AccountRecord {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as Partial<AccountRecord>;
    if (typeof v.url !== 'string') throw new Error('no "url"');
    return { url: v.url, contact: Array.isArray(v.contact) ? v.contact : [], createdAt: String(v.createdAt ?? '') };
  } catch (err) {
    throw new MyServerError('MS_ERR_STORAGE', `reading account record ${key}`, { cause: err });
  }
}

function sameContact(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
