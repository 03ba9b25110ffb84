import { causeChain, MyServerError } from '../errors.ts';

/** How a storage is doing now, for GET /health (JSON form) and the state-change log lines. */
export interface StorageState {
  readonly kind: 'file' | 'redis';
  readonly state: 'up' | 'down';
  /** When it entered this state: opened or came back (up), first failure seen (down). */
  readonly since: Date;
  /** Why it is down: the connection error or the command that got no reply in time. */
  readonly reason?: string;
}

/**
 * A storage call refused because the storage cannot be reached now (connection lost, no reply
 * within the command timeout, or already known down). Not the caller's fault and not the data's:
 * retry when the storage is back (Storage.onStateChange says when). Code MS_ERR_STORAGE, so
 * callers that only know codes still treat it as a failed storage call.
 */
export class StorageUnavailableError extends MyServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MS_ERR_STORAGE', message, options);
    this.name = 'StorageUnavailableError';
  }
}

/** Whether `err`, or an error it wraps, is a StorageUnavailableError. */
export function isStorageUnavailable(err: unknown): boolean {
  for (const cur of causeChain(err)) if (cur instanceof StorageUnavailableError) return true;
  return false;
}

/**
 * The storage state GET /health reports: the admin API knows no stack, so the stack registers
 * its storage here. The one registered last and still open wins: `run` has one stack, and a
 * reload that changes storage opens the new one before it retires the old. Process-wide, like
 * the diagnostics channels: two apps in one process (tests) report the later one's.
 */
const sources: (() => StorageState)[] = [];

/** Makes `source` the state /health reports until the returned function is called. */
export function reportStorageState(source: () => StorageState): () => void {
  sources.push(source);
  return () => {
    const i = sources.lastIndexOf(source);
    if (i >= 0) sources.splice(i, 1);
  };
}

/** The state of the storage registered last, or undefined when none is open. */
export function currentStorageState(): StorageState | undefined {
  return sources.at(-1)?.();
}
