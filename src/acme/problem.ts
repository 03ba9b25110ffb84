import { MyServerError, causeChain } from '../errors.ts';
import type { Identifier, ProblemDocument } from './types.ts';

/** RFC 8555 §6.7: every ACME error type lives under this namespace. */
export const ACME_ERROR_NS = 'urn:ietf:params:acme:error:';

export interface Subproblem {
  readonly type: string;
  readonly detail: string;
  readonly identifier?: Identifier;
}

export interface AcmeProblemInit {
  /** The full type URN; "about:blank" when the document had none (RFC 7807 §4.2). */
  readonly type: string;
  readonly detail: string;
  /** The HTTP status of the response, or the document's own `status`. */
  readonly status?: number | undefined;
  readonly subproblems?: readonly Subproblem[] | undefined;
  readonly identifier?: Identifier | undefined;
  /** From Retry-After, in ms from receipt: how long the CA asks us to wait (429, 503). */
  readonly retryAfter?: number | undefined;
  /** The request URL that drew the problem. */
  readonly url?: string | undefined;
  readonly instance?: string | undefined;
  /** The challenge type that was being validated, when the problem is a challenge's error. */
  readonly challengeType?: string | undefined;
  readonly document?: ProblemDocument | undefined;
}

/**
 * An error the ACME server reported as a problem document (RFC 8555 §6.7). The CA's words are kept
 * as they are: `type` is the full URN, `detail` and `subproblems` are the CA's text, so log lines
 * and the CLI show what the CA said. Branch on `type` (see isProblem), never on the message.
 */
export class AcmeProblem extends MyServerError {
  readonly type: string;
  readonly detail: string;
  readonly status: number | undefined;
  readonly subproblems: readonly Subproblem[];
  readonly identifier: Identifier | undefined;
  readonly retryAfter: number | undefined;
  readonly url: string | undefined;
  readonly instance: string | undefined;
  readonly challengeType: string | undefined;
  readonly document: ProblemDocument | undefined;

  constructor(init: AcmeProblemInit) {
    super('MS_ERR_ACME_PROBLEM', problemMessage(init));
    this.name = 'AcmeProblem';
    this.type = init.type;
    this.detail = init.detail;
    this.status = init.status;
    this.subproblems = init.subproblems ?? [];
    this.identifier = init.identifier;
    this.retryAfter = init.retryAfter;
    this.url = init.url;
    this.instance = init.instance;
    this.challengeType = init.challengeType;
    this.document = init.document;
  }

  /** Builds a problem from a document; unknown or missing fields degrade, never throw. */
  static fromDocument(
    doc: unknown,
    context: { status?: number; url?: string; retryAfter?: number; challengeType?: string; identifier?: Identifier } = {},
  ): AcmeProblem {
    const d: ProblemDocument = isObject(doc) ? (doc as ProblemDocument) : {};
    return new AcmeProblem({
      type: typeof d.type === 'string' && d.type !== '' ? d.type : 'about:blank',
      detail: typeof d.detail === 'string' ? d.detail : '',
      status: context.status ?? (typeof d.status === 'number' ? d.status : undefined),
      subproblems: Array.isArray(d.subproblems) ? d.subproblems.map(toSubproblem) : [],
      identifier: toIdentifier(d.identifier) ?? context.identifier,
      retryAfter: context.retryAfter,
      url: context.url,
      instance: typeof d.instance === 'string' ? d.instance : undefined,
      challengeType: context.challengeType,
      document: d,
    });
  }
}

/**
 * Whether `err` (or an error in its cause chain) is an ACME problem of the given type. `type` is
 * either the short name ("badNonce") or the full URN.
 */
export function isProblem(err: unknown, type?: string): err is AcmeProblem {
  return findProblem(err, type) !== undefined;
}

/** The first AcmeProblem in the cause chain of `err` (of the given type when one is named). */
export function findProblem(err: unknown, type?: string): AcmeProblem | undefined {
  const want = type === undefined ? undefined : type.includes(':') ? type : ACME_ERROR_NS + type;
  for (const cur of causeChain(err)) {
    if (cur instanceof AcmeProblem && (want === undefined || cur.type === want)) return cur;
  }
  return undefined;
}

function problemMessage(init: AcmeProblemInit): string {
  let msg = init.detail === '' ? init.type : `${init.type}: ${init.detail}`;
  if (init.identifier !== undefined && !init.detail.includes(init.identifier.value)) {
    msg += ` (${init.identifier.type} ${init.identifier.value})`;
  }
  const subs = init.subproblems ?? [];
  if (subs.length > 0) {
    const parts = subs.map((s) => {
      const who = s.identifier === undefined ? '' : `${s.identifier.type} ${s.identifier.value}: `;
      return `${who}${s.type}: ${s.detail}`;
    });
    msg += ` [${parts.join('; ')}]`;
  }
  return msg;
}

function toSubproblem(doc: unknown): Subproblem {
  const d: ProblemDocument = isObject(doc) ? (doc as ProblemDocument) : {};
  const identifier = toIdentifier(d.identifier);
  return {
    type: typeof d.type === 'string' && d.type !== '' ? d.type : 'about:blank',
    detail: typeof d.detail === 'string' ? d.detail : '',
    ...(identifier === undefined ? {} : { identifier }),
  };
}

function toIdentifier(v: unknown): Identifier | undefined {
  if (!isObject(v)) return undefined;
  const { type, value } = v as { type?: unknown; value?: unknown };
  if ((type === 'dns' || type === 'ip') && typeof value === 'string') return { type, value };
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
