import { AcmeProblem } from '../acme/problem.ts';
import type { Storage } from '../storage/storage.ts';
import { IssuanceRefused, type IssuanceHold } from './issuer.ts';
import { segment } from './keys.ts';

/**
 * Holds on issuance, kept in storage so every path that orders certificates obeys them: the
 * certificate manager (managed and on-demand names), other nodes sharing the storage, and the
 * `certs` CLI (which also lists them). A hold is either a wait the CA asked for (Retry-After) or a
 * park (a problem no retry can fix, e.g. caa); see docs/design.md, "CA errors".
 *
 * Layout (one value per hold, so writers never read-modify-write a shared record):
 *   acme/<issuer>/holds/account.json          every order of the issuer's account
 *   acme/<issuer>/holds/domain_<domain>.json  every name equal to or below <domain>
 *   acme/<issuer>/holds/name_<name>.json      one name
 * TODO(keys.ts): these keys belong with the rest of the layout in certs/keys.ts, which this
 * change could not edit; they are built only here.
 *
 * Concurrency: values are written whole (Storage.put is atomic); two writers of one key keep the
 * later `until` on a best-effort basis (last write wins when they race, and both were CA answers).
 */
export interface StoredHold extends IssuanceHold {
  readonly issuer: string;
  readonly recordedAt: string;
}

const ROOT = 'acme';

function holdsPrefix(issuerKey: string): string {
  return `${ROOT}/${segment(issuerKey)}/holds`;
}

function holdKey(issuerKey: string, scope: IssuanceHold['scope'], subject: string): string {
  const p = holdsPrefix(issuerKey);
  if (scope === 'account') return `${p}/account.json`;
  return `${p}/${scope === 'domains' ? 'domain' : 'name'}_${segment(subject)}.json`;
}

export class IssuanceHolds {
  readonly #storage: Storage;
  readonly #issuerKey: string;
  readonly #now: () => number;

  constructor(storage: Storage, issuerKey: string, now: () => number = Date.now) {
    this.#storage = storage;
    this.#issuerKey = issuerKey;
    this.#now = now;
  }

  /**
   * The refusal to throw instead of ordering `names` now, or undefined when no hold covers any of
   * them. Expired holds are ignored (and removed, best effort).
   */
  async check(names: readonly string[]): Promise<IssuanceRefused | undefined> {
    const active = (await this.active()).filter((h) => covers(h, names));
    if (active.length === 0) return undefined;
    // The one that ends last decides when the order may be made.
    const last = active.reduce((a, b) => (b.until > a.until ? b : a));
    const until = new Date(last.until).toISOString();
    const what = last.scope === 'account' ? `every order of this account` : names.join(', ');
    const message = last.parked
      ? `not ordering ${names.join(', ')}: parked, since the CA will not issue for it (no more orders until a reload, a restart or ${until})`
      : `not ordering ${what} before ${until}: the CA asked to wait (Retry-After)`;
    const cause = new AcmeProblem({
      type: last.problem.type,
      detail: last.problem.detail,
      ...(last.problem.status === undefined ? {} : { status: last.problem.status }),
      retryAfter: Math.max(0, last.until - this.#now()),
    });
    return new IssuanceRefused(message, active, { cause });
  }

  /** Records holds (keeping an existing later `until` for the same subject). */
  async record(holds: readonly IssuanceHold[]): Promise<void> {
    const recordedAt = new Date(this.#now()).toISOString();
    for (const h of holds) {
      const subjects = h.scope === 'account' ? [''] : h.subjects;
      for (const subject of subjects) {
        const key = holdKey(this.#issuerKey, h.scope, subject);
        const existing = await readHold(this.#storage, key);
        if (existing !== undefined && existing.until >= h.until && existing.parked === h.parked) continue;
        const stored: StoredHold = { ...h, subjects: h.scope === 'account' ? [] : [subject], issuer: this.#issuerKey, recordedAt };
        await this.#storage.put(key, JSON.stringify(stored, null, 2));
      }
    }
  }

  /** Holds of this issuer still in force. */
  async active(): Promise<StoredHold[]> {
    const now = this.#now();
    const out: StoredHold[] = [];
    for (const key of await this.#storage.list(holdsPrefix(this.#issuerKey))) {
      const h = await readHold(this.#storage, key);
      if (h === undefined) continue;
      if (h.until > now) out.push(h);
      else await this.#removeIfExpired(key, now);
    }
    return out;
  }

  /** Best effort, and only if no one recorded a new hold under the key since we read it. */
  async #removeIfExpired(key: string, now: number): Promise<void> {
    try {
      const again = await readHold(this.#storage, key);
      if (again === undefined || again.until <= now) await this.#storage.delete(key);
    } catch {
      // An expired hold left behind is ignored by every reader; the next check tries again.
    }
  }
}

/**
 * Every hold in storage, all issuers (for `certs list`); expired ones left out. A damaged value
 * is skipped: it is ours, but it must not stop a listing.
 */
export async function listHolds(storage: Storage, now: number = Date.now()): Promise<StoredHold[]> {
  const out: StoredHold[] = [];
  for (const key of await storage.list(ROOT, true)) {
    if (!/\/holds\/[^/]+\.json$/.test(key)) continue;
    const h = await readHold(storage, key);
    if (h !== undefined && h.until > now) out.push(h);
  }
  return out;
}

/**
 * Removes every park (not the CA's waits: those stand whatever we do). Called at start and at each
 * reload: a person who changed the config, a DNS record or the CA's settings gets a new attempt.
 */
export async function liftParks(storage: Storage): Promise<number> {
  let lifted = 0;
  for (const key of await storage.list(ROOT, true)) {
    if (!/\/holds\/[^/]+\.json$/.test(key)) continue;
    const h = await readHold(storage, key);
    if (h?.parked === true) {
      await storage.delete(key);
      lifted++;
    }
  }
  return lifted;
}

/** Whether hold `h` covers any of `names`. */
export function covers(h: IssuanceHold, names: readonly string[]): boolean {
  if (h.scope === 'account') return true;
  const lower = names.map((n) => n.toLowerCase());
  if (h.scope === 'names') return lower.some((n) => h.subjects.includes(n));
  return lower.some((n) => h.subjects.some((d) => n === d || n.endsWith(`.${d}`)));
}

async function readHold(storage: Storage, key: string): Promise<StoredHold | undefined> {
  const bytes = await storage.get(key);
  if (bytes === undefined) return undefined;
  try {
    const v = JSON.parse(bytes.toString('utf8')) as Partial<StoredHold>;
    if (typeof v.until !== 'number' || (v.scope !== 'names' && v.scope !== 'domains' && v.scope !== 'account') || !Array.isArray(v.subjects)) return undefined;
    const problem = v.problem ?? { type: 'about:blank', detail: '' };
    return {
      scope: v.scope,
      subjects: v.subjects.filter((s): s is string => typeof s === 'string'),
      until: v.until,
      parked: v.parked === true,
      problem: { type: String(problem.type), detail: String(problem.detail), ...(typeof problem.status === 'number' ? { status: problem.status } : {}) },
      issuer: String(v.issuer ?? ''),
      recordedAt: String(v.recordedAt ?? ''),
    };
  } catch {
    return undefined;
  }
}
