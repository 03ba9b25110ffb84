import { MyServerError, causeChain, type ErrorCode } from '../errors.ts';
import { ACME_ERROR_NS, findProblem } from '../acme/problem.ts';
import { OTHER } from './label-guard.ts';

/**
 * Short names of RFC 8555 §6.7 error types, plus alreadyReplaced (RFC 9773) and invalidProfile
 * (draft-ietf-acme-profiles). A CA may invent more under the namespace; those count as "other"
 * so that a CA cannot grow the label without bound.
 */
const ACME_ERROR_TYPES = new Set([
  'accountDoesNotExist', 'alreadyReplaced', 'alreadyRevoked', 'badCSR', 'badNonce', 'badPublicKey',
  'badRevocationReason', 'badSignatureAlgorithm', 'caa', 'compound', 'connection', 'dns',
  'externalAccountRequired', 'incorrectResponse', 'invalidContact', 'invalidProfile', 'malformed',
  'orderNotReady', 'rateLimited', 'rejectedIdentifier', 'serverInternal', 'tls', 'unauthorized',
  'unsupportedContact', 'unsupportedIdentifier', 'userActionRequired',
]);

/** Labels for failures that are not a CA's problem document, most specific first. */
const ERROR_CODE_LABELS: readonly (readonly [ErrorCode, string])[] = [
  ['MS_ERR_ACME_NETWORK', 'network'],
  ['MS_ERR_ACME_TIMEOUT', 'timeout'],
  ['MS_ERR_ACME_PROTOCOL', 'protocol'],
  ['MS_ERR_CHALLENGE_FAILED', 'challenge'],
  ['MS_ERR_ABORTED', 'aborted'],
];

/**
 * The acme_errors_total label of an issuance failure: the short name of the CA's problem type
 * (anywhere in the cause chain, since the flow wraps problems), else the kind of our own failure.
 */
export function acmeErrorType(err: unknown): string {
  const problem = findProblem(err);
  if (problem !== undefined) {
    const short = problem.type.startsWith(ACME_ERROR_NS) ? problem.type.slice(ACME_ERROR_NS.length) : '';
    return ACME_ERROR_TYPES.has(short) ? short : OTHER;
  }
  const codes = new Set<ErrorCode>();
  for (const cur of causeChain(err)) if (cur instanceof MyServerError) codes.add(cur.code);
  for (const [code, label] of ERROR_CODE_LABELS) if (codes.has(code)) return label;
  return OTHER;
}

/**
 * The same label for a failure already reduced to its problem type and code (a certificate's last
 * error, certs/lifecycle.ts).
 */
export function acmeErrorTypeOf(e: { readonly type?: string | undefined; readonly code?: string | undefined }): string {
  if (e.type !== undefined) {
    const short = e.type.startsWith(ACME_ERROR_NS) ? e.type.slice(ACME_ERROR_NS.length) : '';
    return ACME_ERROR_TYPES.has(short) ? short : OTHER;
  }
  for (const [code, label] of ERROR_CODE_LABELS) if (e.code === code) return label;
  return OTHER;
}
