/**
 * The ACME module's public surface: the RFC 8555 client, the issuance flow, problem documents,
 * RFC 9773 helpers and events. See client.ts for the contract (concurrency, errors).
 */
export { AcmeClient } from './client.ts';
export type { AcmeClientOptions, NewAccountRequest, NewOrderRequest, RequestOptions, RevokeCertOptions } from './client.ts';
export { obtainCertificate, topIssuerCommonName } from './flow.ts';
export type { ObtainCertificateOptions, ObtainedCertificate } from './flow.ts';
export { AcmeProblem, ACME_ERROR_NS, findProblem, isProblem } from './problem.ts';
export type { AcmeProblemInit, Subproblem } from './problem.ts';
export { isPermanentProblemType, isWaitRequest, PERMANENT_PROBLEM_TYPES, refusalOf } from './problem-scope.ts';
export type { ProblemScope, Refusal, RefusalContext } from './problem-scope.ts';
export { certIdFromCertificate, certIdFromParts, chooseRenewalTime } from './ari.ts';
export type { RenewalWindow } from './ari.ts';
export { ACME_CHANNELS, publishAcmeEvent } from './events.ts';
export type { AcmeEvent, AcmeEventType } from './events.ts';
export { generateAccountKey, loadAccountKey } from './jws.ts';
export type { AccountKeyAlg, AccountKeyInput, SigningKey } from './jws.ts';
export { parseRetryAfter } from './http.ts';
export type * from './types.ts';
