import { ACME_ERROR_NS, type AcmeProblem } from './problem.ts';

/**
 * What a CA's refusal means for the requests that come after it: how long to wait, for what, and
 * whether waiting can help at all. Pure functions over an AcmeProblem, so the certificate manager,
 * on-demand issuance and the `certs` CLI all draw the same conclusions from the same answer.
 */

/**
 * Problem types that no retry of the same name can fix (RFC 8555 §6.7): "The server will not
 * issue certificates for the identifier" (rejectedIdentifier), "An identifier is of an
 * unsupported type" (unsupportedIdentifier), "Certification Authority Authorization (CAA) records
 * forbid the CA from issuing a certificate" (caa), "The CSR is unacceptable" (badCSR). Each
 * changes only when someone changes the name's DNS, the CA's policy or our configuration.
 */
export const PERMANENT_PROBLEM_TYPES: readonly string[] = ['rejectedIdentifier', 'unsupportedIdentifier', 'caa', 'badCSR'].map((t) => ACME_ERROR_NS + t);

/** Which requests a refusal covers. */
export type ProblemScope =
  | { readonly kind: 'account' }
  /** Every name equal to, or below, one of these domains (a registered domain's limit). */
  | { readonly kind: 'domains'; readonly domains: readonly string[] }
  /** Exactly these names. */
  | { readonly kind: 'names'; readonly names: readonly string[] };

export interface RefusalContext {
  /** The names (identifier values) of the refused order. */
  readonly names: readonly string[];
  /** The account's URL, when it has one: a detail naming it makes the refusal account-wide. */
  readonly accountUrl?: string;
  /** The directory's newAccount URL: a rate limit there applies to the account, not to names. */
  readonly newAccountUrl?: string;
}

export interface Refusal {
  /** Wait this long (ms from the answer) before asking again for what `scope` covers. */
  readonly retryAfterMs?: number | undefined;
  /** Names for which no retry can help (see PERMANENT_PROBLEM_TYPES); a subset of the order's. */
  readonly permanentNames: readonly string[];
  /** The problem of the permanent names (the subproblem's type and detail when it was one). */
  readonly permanentProblem?: { readonly type: string; readonly detail: string };
  readonly scope: ProblemScope;
}

export function isPermanentProblemType(type: string): boolean {
  return PERMANENT_PROBLEM_TYPES.includes(type);
}

/**
 * RFC 8555 §6.6: "the server SHOULD send a 'Retry-After' header [...] indicating when the current
 * request may succeed again. If multiple rate limits are in place, that is the time where all rate
 * limits allow access again for the current request with exactly the same parameters." A
 * Retry-After on a 503 says the same of the whole service. Both are waits we owe the CA; a
 * Retry-After on anything else (a poll's pacing hint) is not a refusal.
 */
export function isWaitRequest(problem: AcmeProblem): boolean {
  return problem.retryAfter !== undefined && (problem.status === 429 || problem.status === 503 || problem.type === `${ACME_ERROR_NS}rateLimited`);
}

/**
 * What `problem`, the answer to an order for `ctx.names`, covers. Account-wide when it came from
 * newAccount, from a 503 (the service, not a name, is unavailable), or when its detail (or a
 * subproblem's) names the account ("too many new orders from this account", the account URL or
 * its id); a registered domain's when the detail names a parent of (or one of) the ordered names
 * ("too many certificates already issued for \"example.com\""); the names its subproblems
 * identify (RFC 8555 §6.7.1: "ACME clients may choose to use the 'identifier' field of a
 * subproblem as a hint that an operation would succeed if that identifier were omitted"); else
 * the order's names.
 */
export function refusalOf(problem: AcmeProblem, ctx: RefusalContext): Refusal {
  const texts = [problem.detail, ...problem.subproblems.map((s) => s.detail)];
  const ordered = ctx.names.map((n) => n.toLowerCase());
  let scope: ProblemScope;
  if (
    (ctx.newAccountUrl !== undefined && problem.url === ctx.newAccountUrl) ||
    problem.status === 503 ||
    texts.some((t) => namesAccount(t, ctx.accountUrl))
  ) {
    scope = { kind: 'account' };
  } else {
    const domains = [...new Set(texts.flatMap(domainsIn))].filter((d) => ordered.some((n) => n === d || n.endsWith(`.${d}`)));
    const identified = problem.subproblems.flatMap((s) => (s.identifier === undefined ? [] : [s.identifier.value.toLowerCase()]));
    if (domains.length > 0) scope = { kind: 'domains', domains };
    else if (identified.length > 0) scope = { kind: 'names', names: [...new Set(identified)] };
    else scope = { kind: 'names', names: ordered };
  }

  let permanentNames: string[] = [];
  let permanentProblem: { type: string; detail: string } | undefined;
  const permanentSubs = problem.subproblems.filter((s) => isPermanentProblemType(s.type));
  if (permanentSubs.length > 0) {
    // Only the names the CA blames; the others may well succeed in an order without them.
    for (const s of permanentSubs) {
      const value = s.identifier?.value.toLowerCase();
      permanentNames.push(...(value === undefined ? ordered : [value]));
    }
    const first = permanentSubs[0]!;
    permanentProblem = { type: first.type, detail: first.detail };
  } else if (isPermanentProblemType(problem.type)) {
    const value = problem.identifier?.value.toLowerCase();
    permanentNames = value !== undefined && ordered.includes(value) ? [value] : ordered;
    permanentProblem = { type: problem.type, detail: problem.detail };
  }
  permanentNames = [...new Set(permanentNames)];

  return {
    scope,
    permanentNames,
    ...(permanentProblem === undefined ? {} : { permanentProblem }),
    ...(isWaitRequest(problem) ? { retryAfterMs: problem.retryAfter } : {}),
  };
}

/** Whether a CA's text speaks of the account (its URL, its id, or the word) rather than names. */
function namesAccount(text: string, accountUrl: string | undefined): boolean {
  if (text === '') return false;
  if (accountUrl !== undefined) {
    if (text.includes(accountUrl)) return true;
    // Let's Encrypt quotes the account's number ("...for account 123456..."), not its URL. An id
    // shorter than 3 characters would match too much.
    const id = accountUrl.replace(/\/+$/, '').split('/').at(-1) ?? '';
    if (id.length >= 3 && new RegExp(`(^|[^\\w-])${escapeRegExp(id)}([^\\w-]|$)`).test(text)) return true;
  }
  return /\b(account|registration)s?\b/i.test(text);
}

/** Domain-looking tokens of a CA's text, lower case ("example.com" from `for "example.com" in`). */
function domainsIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|[^\w.-])((?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9])(?=$|[^\w-])/gi)) {
    const d = (m[1] ?? '').toLowerCase().replace(/^\*\./, '');
    // A URL's host is a CA's own address, and "letsencrypt.org/docs" a help link: neither is ours.
    const before = text.slice(0, m.index + m[0].indexOf(m[1] ?? '')).toLowerCase();
    if (/(https?:\/\/|@)$/.test(before)) continue;
    out.push(d);
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
