import { MyServerError } from '../errors.ts';
import type { Fence, WriteOptions } from './storage.ts';

/**
 * A write refused because another instance took the lock it was fenced with after this one: the
 * writer lost its lease (paused, partitioned) and someone else now owns the name. Not a storage
 * failure: the caller should drop its result and load what the newer holder stored.
 * Code MS_ERR_STORAGE, so callers that only know codes still treat it as a failed write.
 */
export class FencedWriteError extends MyServerError {
  readonly key: string;
  readonly fence: Fence;
  /** The lock's latest token, issued to the holder that took over. */
  readonly current: number;

  constructor(key: string, fence: Fence, current: number, storage: string) {
    super(
      'MS_ERR_STORAGE',
      `writing "${key}" in ${storage}: refused, lock "${fence.lock}" was taken by a newer holder (token ${current}, ours ${fence.token})`,
    );
    this.name = 'FencedWriteError';
    this.key = key;
    this.fence = fence;
    this.current = current;
  }
}

export function isFencedWrite(err: unknown): err is FencedWriteError {
  return err instanceof FencedWriteError;
}

/** The fences of a write as a list (none, one or several). */
export function fencesOf(options: WriteOptions | undefined): readonly Fence[] {
  const f = options?.fence;
  if (f === undefined) return [];
  return Array.isArray(f) ? f : [f as Fence];
}
