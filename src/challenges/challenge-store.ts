/**
 * Pending challenges, kept in Storage so that whichever instance of a cluster the CA reaches can
 * answer, with an in-process layer in front so the instance that presented a challenge answers
 * without a storage round trip.
 *
 * Layout: `challenges/http-01/<token>` and `challenges/tls-alpn-01/<identifier>` (DNS name or
 * canonical IP), each a JSON `{ keyAuthorization, identifier, expires }` with `expires` an ISO time.
 *
 * Entries expire after `ttlMs`: an ACME flow that died before its cleanup leaves nothing answerable
 * for long. Expired entries are never served; `cleanup()` deletes them from storage.
 *
 * Only entries this instance put are cached in memory, until it deletes them or they expire (the
 * flow that presents a challenge is the one that cleans it up). Caching what another instance put
 * would keep serving a stale key authorization after that instance replaced it (a tls-alpn-01
 * retry for the same name), so those are read from storage each time.
 */
import { MyServerError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';

export type ChallengeKind = 'http-01' | 'tls-alpn-01';

export interface PendingChallenge {
  readonly keyAuthorization: string;
  readonly identifier: { readonly type: 'dns' | 'ip'; readonly value: string };
  /** Milliseconds since the epoch after which the entry is not served. */
  readonly expires: number;
}

export interface ChallengeStoreOptions {
  readonly storage: Storage;
  /**
   * How long an entry stays answerable. 10 minutes by default: CAs validate within seconds of the
   * client's "ready" (Pebble and Let's Encrypt retry within a minute or two), and the flow cleans
   * up right after; the margin covers a slow CA without keeping proofs around for hours.
   */
  readonly ttlMs?: number;
  /** The clock, for tests. */
  readonly now?: () => number;
}

export const DEFAULT_CHALLENGE_TTL_MS = 10 * 60 * 1000;
const PREFIX = 'challenges';

/** Names are tokens (base64url) or identifiers; this keeps any other text out of storage keys. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.:-]*$/;

/** Safe for concurrent use; methods reject with MS_ERR_STORAGE when storage fails. */
export class ChallengeStore {
  readonly #storage: Storage;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #memory = new Map<string, PendingChallenge>();

  constructor(options: ChallengeStoreOptions) {
    this.#storage = options.storage;
    this.#ttlMs = options.ttlMs ?? DEFAULT_CHALLENGE_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Records a pending challenge under `name` (the token for http-01, the identifier for tls-alpn-01). */
  async put(kind: ChallengeKind, name: string, challenge: Omit<PendingChallenge, 'expires'>): Promise<void> {
    const key = keyOf(kind, name);
    if (key === undefined) throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `invalid ${kind} challenge name ${JSON.stringify(name)}`);
    const entry: PendingChallenge = {
      keyAuthorization: challenge.keyAuthorization,
      identifier: { type: challenge.identifier.type, value: challenge.identifier.value },
      expires: this.#now() + this.#ttlMs,
    };
    const json = JSON.stringify({ ...entry, expires: new Date(entry.expires).toISOString() });
    await this.#storage.put(key, json);
    this.#memory.set(key, entry);
  }

  /** The live entry for `name`, or undefined when there is none, it expired, or `name` could not be a key. */
  async get(kind: ChallengeKind, name: string): Promise<PendingChallenge | undefined> {
    const key = keyOf(kind, name);
    if (key === undefined) return undefined;
    const cached = this.#memory.get(key);
    if (cached !== undefined) {
      if (cached.expires > this.#now()) return cached;
      this.#memory.delete(key);
    }
    const stored = decode(await this.#storage.get(key));
    return stored !== undefined && stored.expires > this.#now() ? stored : undefined;
  }

  async delete(kind: ChallengeKind, name: string): Promise<void> {
    const key = keyOf(kind, name);
    if (key === undefined) return;
    this.#memory.delete(key);
    await this.#storage.delete(key);
  }

  /**
   * Deletes expired and unreadable entries from storage and memory; returns how many storage
   * entries went. Another instance may re-put a key between our read and delete; the window is a
   * storage round trip and the cost a retried validation, so no lock is taken for it.
   */
  async cleanup(): Promise<number> {
    const now = this.#now();
    for (const [key, entry] of this.#memory) if (entry.expires <= now) this.#memory.delete(key);
    let removed = 0;
    for (const key of await this.#storage.list(PREFIX, true)) {
      const entry = decode(await this.#storage.get(key));
      if (entry === undefined || entry.expires <= now) {
        await this.#storage.delete(key);
        removed++;
      }
    }
    return removed;
  }
}

function keyOf(kind: ChallengeKind, name: string): string | undefined {
  return NAME.test(name) && name.length <= 255 ? `${PREFIX}/${kind}/${name}` : undefined;
}

/** A stored entry, or undefined for a missing or unreadable one (a reader never serves what it cannot parse). */
function decode(raw: Buffer | undefined): PendingChallenge | undefined {
  if (raw === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof value !== 'object' || value === null) return undefined;
    const { keyAuthorization, identifier, expires } = value as Record<string, unknown>;
    const expiresMs = typeof expires === 'string' ? Date.parse(expires) : NaN;
    if (typeof keyAuthorization !== 'string' || typeof identifier !== 'object' || identifier === null || Number.isNaN(expiresMs)) return undefined;
    const { type, value: idValue } = identifier as Record<string, unknown>;
    if ((type !== 'dns' && type !== 'ip') || typeof idValue !== 'string') return undefined;
    return { keyAuthorization, identifier: { type, value: idValue }, expires: expiresMs };
  } catch {
    return undefined;
  }
}
