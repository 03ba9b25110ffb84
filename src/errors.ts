/**
 * One base error with stable codes. Every error my-server raises on purpose is a MyServerError
 * (or a subclass such as AcmeProblem or ConfigError), so callers branch on `code`, never on text.
 * The codes are listed in docs/errors.md.
 */
export type ErrorCode =
  | 'MS_ERR_CONFIG'
  | 'MS_ERR_LISTEN'
  | 'MS_ERR_UPSTREAM'
  | 'MS_ERR_USAGE'
  | 'MS_ERR_STORAGE'
  | 'MS_ERR_LOCK_TIMEOUT'
  | 'MS_ERR_ACME_PROBLEM'
  | 'MS_ERR_ACME_PROTOCOL'
  | 'MS_ERR_ACME_NETWORK'
  | 'MS_ERR_ACME_TIMEOUT'
  | 'MS_ERR_CHALLENGE_FAILED'
  | 'MS_ERR_X509'
  | 'MS_ERR_NOT_FOUND'
  | 'MS_ERR_POLICY'
  | 'MS_ERR_ABORTED';

export class MyServerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'MyServerError';
  }
}

/** The message of an error and of each error in its `cause` chain, joined: "doing x: doing y: root". */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && depth < 8; depth++) {
    if (cur instanceof Error) {
      if (!parts.some((p) => p.includes(cur instanceof Error ? cur.message : ''))) parts.push(cur.message);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(': ');
}
