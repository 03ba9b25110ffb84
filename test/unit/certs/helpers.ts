/** Shared setup for the certs tests: a FileStorage in a temp dir and issuers that count their calls. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IssueRequest, Issued, Issuer } from '../../../src/certs/issuer.ts';
import { FileStorage } from '../../../src/storage/file-storage.ts';

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
