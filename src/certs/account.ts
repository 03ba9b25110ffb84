import { AcmeClient } from '../acme/client.ts';
import { generateAccountKey } from '../acme/jws.ts';
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
  readonly signal?: AbortSignal;
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
export async function loadOrCreateAccount(options: AccountOptions): Promise<AcmeClient> {
  const { storage, directoryUrl, email, log } = options;
  const issuer = issuerKey(directoryUrl);
  const keyKey = accountKeyKey(issuer, email);
  const metaKey = accountMetaKey(issuer, email);
  const contact = email ? [`mailto:${email}`] : [];

  await storage.lock(accountLockName(issuer), { signal: options.signal, timeoutMs: 120_000 });
  try {
    let keyPem = (await storage.get(keyKey))?.toString('utf8');
    if (keyPem === undefined) {
      keyPem = await generateAccountKey('ES256');
      await storage.put(keyKey, keyPem);
      log.info({ issuer: directoryUrl }, 'generated a new ACME account key');
    }
    const metaBytes = await storage.get(metaKey);
    const record = metaBytes ? parseAccountRecord(metaBytes, metaKey) : undefined;
    const client = new AcmeClient({
      directoryUrl,
      accountKey: keyPem,
      ...(record ? { accountUrl: record.url } : {}),
      ...(options.caRoots !== undefined ? { caRoots: options.caRoots } : {}),
      ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
    });
    if (record) {
      if (!sameContact(record.contact, contact)) {
        await client.updateAccount({ contact, signal: options.signal });
        await storage.put(metaKey, JSON.stringify({ ...record, contact }, null, 2));
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
    await storage.put(metaKey, JSON.stringify(rec, null, 2));
    log.info({ issuer: directoryUrl, account: account.url, created: account.created }, 'ACME account ready');
    return client;
  } finally {
    await storage.unlock(accountLockName(issuer));
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
