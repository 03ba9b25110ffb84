/**
 * One base error with stable codes. Every error my-server raises on purpose is a MyServerError
 * (or a subclass such as AcmeProblem or ConfigError), so callers branch on `code`, never on text.
 * The codes are listed in docs/errors.md (a unit test holds the two lists equal), and each one is
 * raised somewhere: a code nothing throws is a promise to users that nothing keeps.
 *
 * There is no upstream code: a failed upstream is answered 502/504 to the client and reported in
 * the log and on my-server:proxy:upstream-error, never thrown to a caller that could read a code.
 */
export const ERROR_CODES = [
  'MS_ERR_CONFIG',
  'MS_ERR_LISTEN',
  'MS_ERR_USAGE',
  'MS_ERR_STORAGE',
  'MS_ERR_LOCK_TIMEOUT',
  'MS_ERR_ACME_PROBLEM',
  'MS_ERR_ACME_PROTOCOL',
  'MS_ERR_ACME_NETWORK',
  'MS_ERR_ACME_TIMEOUT',
  'MS_ERR_CHALLENGE_FAILED',
  'MS_ERR_X509',
  'MS_ERR_NOT_FOUND',
  'MS_ERR_POLICY',
  'MS_ERR_ABORTED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class MyServerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'MyServerError';
  }
}

/**
 * How many links of a `cause` chain are followed: enough for every wrapping we do (flow → order →
 * request → socket), and a bound for a chain that loops (a.cause = b, b.cause = a).
 */
const MAX_CAUSE_DEPTH = 8;

/**
 * `err` and its causes, outermost first: at most MAX_CAUSE_DEPTH values, ending after the first one
 * that is not an Error (a `cause` may be anything). The one walk of a cause chain, for everything
 * that looks for a code or a problem inside wrapped errors.
 */
export function* causeChain(err: unknown): Generator<unknown, void, undefined> {
  let cur = err;
  for (let depth = 0; cur !== undefined && depth < MAX_CAUSE_DEPTH; depth++) {
    yield cur;
    if (!(cur instanceof Error)) return;
    cur = cur.cause;
  }
}

/** The message of an error and of each error in its `cause` chain, joined: "doing x: doing y: root". */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (const cur of causeChain(err)) {
    if (!(cur instanceof Error)) parts.push(String(cur));
    // A wrapper that repeats its cause's message adds nothing.
    else if (!parts.some((p) => p.includes(cur.message))) parts.push(cur.message);
  }
  return parts.join(': ');
}
