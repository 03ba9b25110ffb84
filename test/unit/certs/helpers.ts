/** Shared setup for the certs tests: a FileStorage in a temp dir and issuers that count their calls. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IssueRequest, Issued, Issuer } from '../../../src/certs/issuer.ts';
import type { Clock } from '../../../src/certs/clock.ts';
import { FileStorage } from '../../../src/storage/file-storage.ts';
import type { StoredCertificate } from '../../../src/certs/certificate-store.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import type { CertificateMeta } from '../../../src/certs/meta.ts';
import { silentLogger } from '../../../src/log.ts';
import type { Storage } from '../../../src/storage/storage.ts';
import { parseCertificate } from '../../../src/x509/certificate.ts';
import { generatePrivateKeyPem } from '../../../src/x509/keys.ts';

export interface TempStorage {
  readonly dir: string;
  readonly storage: FileStorage;
  /** Another FileStorage over the same folder, as a second process would open it. */
  other(): FileStorage;
  remove(): Promise<void>;
}

export async function tempStorage(): Promise<TempStorage> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-certs-'));
  return {
    dir,
    storage: new FileStorage(dir),
    other: () => new FileStorage(dir),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Delegates to a real issuer and records every issue() call. */
export class CountingIssuer implements Issuer {
  readonly id: string;
  readonly storageKey: string;
  readonly requests: IssueRequest[] = [];
  readonly #inner: Issuer;

  constructor(inner: Issuer) {
    this.#inner = inner;
    this.id = inner.id;
    this.storageKey = inner.storageKey;
  }

  get calls(): number {
    return this.requests.length;
  }

  issue(request: IssueRequest): Promise<Issued> {
    this.requests.push(request);
    return this.#inner.issue(request);
  }
}

/** An issuer that always fails, recording when each attempt came (performance.now()). */
export class FailingIssuer implements Issuer {
  readonly id = 'failing';
  readonly storageKey = 'failing';
  readonly attempts: number[] = [];

  async issue(): Promise<Issued> {
    this.attempts.push(performance.now());
    throw new Error('the CA is down');
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 10 ms until it is true; false after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await delay(10);
  }
  return check();
}

/**
 * A test clock: time stands still until advance() (which fires the timers due by then, each at
 * its own time, in due order) or jump() (which fires none, as an NTP step or a starved process
 * would). Timers already due when set run on the next turn of the event loop. It starts wherever
 * the test says, e.g. days ahead of the real clock that the issuers' certificates follow.
 */
export class StepClock implements Clock {
  #now: number;
  #next = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  constructor(start = Date.now()) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    if (ms <= 0) setImmediate(() => this.#fire(id));
    return id;
  }
  clearTimer(timer: unknown): void {
    if (typeof timer === 'number') this.#timers.delete(timer);
  }
  /** Moves time on by `ms`, firing what falls due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let due: [number, number] | undefined;
      for (const [id, t] of this.#timers) if (t.at <= target && (due === undefined || t.at < due[1])) due = [id, t.at];
      if (due === undefined) break;
      this.#now = Math.max(this.#now, due[1]);
      this.#fire(due[0]);
    }
    this.#now = target;
  }
  /** Moves time on by `ms` without firing anything. */
  jump(ms: number): void {
    this.#now += ms;
  }
  #fire(id: number): void {
    const t = this.#timers.get(id);
    if (t === undefined) return;
    this.#timers.delete(id);
    t.fn();
  }
}

/** What CertificateStore.save takes: a certificate for one name with its key and metadata. */
export type IssuedEntry = Pick<StoredCertificate, 'chainPem' | 'keyPem' | 'meta'>;

/** Issues fresh P-256 certificates for `name` from a local CA kept in `storage`, not yet stored. */
export function localIssuance(storage: Storage, name: string): () => Promise<IssuedEntry> {
  const local = new LocalIssuer({ storage, log: silentLogger() });
  return async () => {
    const keyPem = await generatePrivateKeyPem('p256');
    const { chainPem } = await local.issue({ names: [name], keyPem, keyType: 'p256' });
    const leaf = parseCertificate(chainPem);
    const meta: CertificateMeta = {
      names: [name],
      issuer: 'local',
      issuerName: leaf.issuerCommonName ?? '',
      serialHex: leaf.serialHex,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
      obtainedAt: new Date().toISOString(),
      keyType: 'p256',
    };
    return { chainPem, keyPem, meta };
  };
}
