import { X509Certificate } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { ChallengeInfo, Solver } from './solver.ts';
import { MyServerError } from '../errors.ts';
import type { AcmeClient } from './client.ts';
import { publishAcmeEvent, type AcmeEvent } from './events.ts';
import { AcmeProblem, findProblem, isProblem } from './problem.ts';
import { MAX_POLL_INTERVAL_MS, pollDelay } from './poll.ts';
import type { Authorization, Challenge, Identifier, Order } from './types.ts';

/**
 * One certificate issuance on top of an AcmeClient (RFC 8555 §7.4): order → authorizations →
 * finalize → download. Challenges are answered by the injected Solvers; the flow never opens a
 * socket of its own. Every wait honours `signal` and is bounded by `maxPollMs`.
 *
 * When an authorization fails for a challenge type, the next attempt (a new order) prefers another
 * enabled type, so a blocked port 80 or 443 alone does not stop issuance. Attempts are bounded
 * (one per enabled type, at most 3). The error thrown is the CA's own AcmeProblem (the failed
 * challenge's error with its subproblems), MS_ERR_ACME_TIMEOUT when the CA never settled, or
 * whatever else stopped the flow (network, abort, a solver's error).
 */
export interface ObtainCertificateOptions {
  readonly identifiers: readonly Identifier[];
  /** The CSR, DER-encoded, naming exactly `identifiers`. */
  readonly csrDer: Uint8Array;
  /** Challenge type → solver. */
  readonly solvers: ReadonlyMap<string, Solver>;
  /** Order of preference; only types with a solver count. Default tls-alpn-01, then http-01. */
  readonly challengeTypes?: readonly string[];
  /** RFC 9773 CertID of the certificate being renewed; sent only when the CA offers ARI. */
  readonly replaces?: string;
  /** Sent only when the CA lists it in meta.profiles. */
  readonly profile?: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Issuer common name of the topmost certificate of the wanted chain (default chain otherwise). */
  readonly preferredChain?: string;
  /** Upper bound of each wait (an authorization, the order becoming ready, then valid). */
  readonly maxPollMs?: number;
  /** Cap of the poll backoff when the CA sends no Retry-After (see poll.ts); default 1 s. */
  readonly pollIntervalMs?: number;
  readonly maxAttempts?: number;
  readonly signal?: AbortSignal | undefined;
  readonly onEvent?: (event: AcmeEvent) => void;
  /** Injected for tests; must reject when `signal` aborts. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now?: () => number;
}

export interface ObtainedCertificate {
  /** The chain, leaf first, as downloaded. */
  readonly certificatePem: string;
  /** Where that chain was downloaded from (an alternate's URL when the preferred chain was one). */
  readonly certificateUrl: string;
  readonly orderUrl: string;
}

const DEFAULT_CHALLENGE_TYPES = ['tls-alpn-01', 'http-01'] as const;
/** Pebble and Let's Encrypt validate within seconds; 90 s leaves room for a slow validation. */
const DEFAULT_MAX_POLL_MS = 90_000;
const MAX_ATTEMPTS = 3;

/** A failure tied to one challenge type: the next attempt tries another type. */
class ChallengeTypeFailure extends Error {
  readonly challengeType: string;
  readonly error: unknown;
  constructor(challengeType: string, error: unknown) {
    super(`${challengeType} failed`, { cause: error });
    this.challengeType = challengeType;
    this.error = error;
  }
}

interface FlowContext {
  readonly client: AcmeClient;
  readonly o: ObtainCertificateOptions;
  readonly enabled: readonly string[];
  readonly failedTypes: ReadonlySet<string>;
  readonly emit: (e: AcmeEvent) => void;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now: () => number;
  readonly attempt: number;
}

export async function obtainCertificate(client: AcmeClient, o: ObtainCertificateOptions): Promise<ObtainedCertificate> {
  const preference = o.challengeTypes ?? DEFAULT_CHALLENGE_TYPES;
  const enabled = preference.filter((t) => o.solvers.has(t));
  if (enabled.length === 0) {
    throw new MyServerError('MS_ERR_USAGE', `obtaining certificate: no solver for any of ${preference.join(', ')}`);
  }
  if (o.identifiers.length === 0) throw new MyServerError('MS_ERR_USAGE', 'obtaining certificate: no identifiers');
  const maxAttempts = o.maxAttempts ?? Math.min(MAX_ATTEMPTS, enabled.length);
  const failedTypes = new Set<string>();
  const emit = (e: AcmeEvent): void => {
    publishAcmeEvent(e);
    o.onEvent?.(e);
  };
  const base = { client, o, enabled, failedTypes, emit, sleep: o.sleep ?? defaultSleep, now: o.now ?? Date.now };

  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce({ ...base, attempt });
    } catch (err) {
      if (o.signal?.aborted === true) {
        throw err instanceof MyServerError && err.code === 'MS_ERR_ABORTED' ? err : abortedError(o.signal, err);
      }
      const typeFailure = err instanceof ChallengeTypeFailure ? err : undefined;
      const error = typeFailure === undefined ? err : typeFailure.error;
      if (typeFailure !== undefined) failedTypes.add(typeFailure.challengeType);
      const untried = enabled.some((t) => !failedTypes.has(t));
      const willRetry = typeFailure !== undefined && untried && attempt < maxAttempts;
      emit({
        type: 'error',
        identifiers: o.identifiers,
        attempt,
        error: error instanceof Error ? error : new Error(String(error)),
        willRetry,
        ...(typeFailure === undefined ? {} : { challengeType: typeFailure.challengeType }),
      });
      if (!willRetry) throw error;
    }
  }
}

async function attemptOnce(ctx: FlowContext): Promise<ObtainedCertificate> {
  const { client, o, attempt } = ctx;
  const signal = o.signal;
  const dir = await client.directory({ ...opt(signal) });
  // Let's Encrypt issues IP addresses only under its short-lived profile: with none configured, an
  // order with an IP identifier asks for `shortlived` when the CA offers it.
  const wanted = o.profile ?? (o.identifiers.some((i) => i.type === 'ip') ? 'shortlived' : undefined);
  const profile = wanted !== undefined && dir.meta?.profiles?.[wanted] !== undefined ? wanted : undefined;
  const replaces = o.replaces !== undefined && dir.renewalInfo !== undefined ? o.replaces : undefined;
  const request = {
    identifiers: o.identifiers,
    ...opt(signal),
    ...(o.notBefore === undefined ? {} : { notBefore: o.notBefore }),
    ...(o.notAfter === undefined ? {} : { notAfter: o.notAfter }),
    ...(profile === undefined ? {} : { profile }),
  };
  let order: Order;
  try {
    order = await client.newOrder({ ...request, ...(replaces === undefined ? {} : { replaces }) });
  } catch (err) {
    // RFC 9773 §5: a certificate can be replaced once; a retry after a lost response must still work.
    if (replaces === undefined || !isProblem(err, 'alreadyReplaced')) throw err;
    order = await client.newOrder(request);
  }
  ctx.emit({ type: 'order-created', orderUrl: order.url, identifiers: o.identifiers, attempt, ...(profile === undefined ? {} : { profile }) });

  const orderUrl = order.url;
  const refresh = (): Promise<Order> => client.getOrder(orderUrl, opt(signal));
  if (order.status === 'pending') {
    await solveAuthorizations(ctx, order);
    order = await poll(ctx, `order ${orderUrl} to become ready`, refresh, (x) => x.status !== 'pending');
  }
  if (order.status === 'ready') order = await client.finalizeOrder(order, o.csrDer, opt(signal));
  if (order.status === 'processing' || order.status === 'ready') {
    order = await poll(ctx, `order ${orderUrl} to be issued`, refresh, (x) => x.status === 'valid' || x.status === 'invalid', order);
  }
  if (order.status !== 'valid') throw orderError(order);
  if (order.certificate === undefined) {
    throw new MyServerError('MS_ERR_ACME_PROTOCOL', `obtaining certificate: order ${order.url} is valid but has no certificate URL`);
  }
  const chosen = await downloadPreferred(client, order.certificate, o.preferredChain, signal);
  ctx.emit({ type: 'certificate-obtained', orderUrl: order.url, certificateUrl: chosen.url, identifiers: o.identifiers });
  return { certificatePem: chosen.pem, certificateUrl: chosen.url, orderUrl: order.url };
}

/** Solves every authorization of the order at once; the first failure stops the others. */
async function solveAuthorizations(ctx: FlowContext, order: Order): Promise<void> {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(ctx.o.signal?.reason);
  ctx.o.signal?.addEventListener('abort', onAbort, { once: true });
  let first: unknown;
  try {
    const results = await Promise.allSettled(
      order.authorizations.map(async (url) => {
        try {
          await solveAuthorization(ctx, order, url, ac.signal);
        } catch (err) {
          if (first === undefined) first = err;
          ac.abort(err);
          throw err;
        }
      }),
    );
    if (results.some((r) => r.status === 'rejected')) throw first;
  } finally {
    ctx.o.signal?.removeEventListener('abort', onAbort);
  }
  if (ctx.o.signal?.aborted === true) throw abortedError(ctx.o.signal);
}

async function solveAuthorization(ctx: FlowContext, order: Order, url: string, signal: AbortSignal): Promise<void> {
  const { client } = ctx;
  const authz = await client.getAuthorization(url, { signal });
  const who = `${authz.identifier.type} ${authz.identifier.value}`;
  if (authz.status === 'valid') {
    ctx.emit({ type: 'authorization-valid', orderUrl: order.url, identifier: authz.identifier, reused: true });
    return;
  }
  if (authz.status !== 'pending') throw authorizationError(authz, undefined);
  const challenge = pickChallenge(ctx, authz);
  if (challenge.token === undefined) {
    throw new MyServerError('MS_ERR_ACME_PROTOCOL', `obtaining certificate: ${challenge.type} challenge for ${who} has no token`);
  }
  const solver = ctx.o.solvers.get(challenge.type) as Solver;
  const info: ChallengeInfo = {
    type: challenge.type,
    token: challenge.token,
    keyAuthorization: await client.keyAuthorization(challenge.token),
    identifier: authz.identifier,
  };
  try {
    try {
      await solver.present(info, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ChallengeTypeFailure(challenge.type, new MyServerError('MS_ERR_CHALLENGE_FAILED', `presenting ${challenge.type} for ${who}`, { cause: err }));
    }
    ctx.emit({ type: 'challenge-presented', orderUrl: order.url, identifier: authz.identifier, challengeType: challenge.type });
    if (challenge.status === 'pending') await client.respondToChallenge(challenge.url, { signal });
    let settled: Authorization;
    try {
      settled = await poll(ctx, `authorization of ${who}`, () => client.getAuthorization(url, { signal }), (a) => a.status !== 'pending', undefined, signal);
    } catch (err) {
      if (err instanceof MyServerError && err.code === 'MS_ERR_ACME_TIMEOUT') throw new ChallengeTypeFailure(challenge.type, err);
      throw err;
    }
    if (settled.status !== 'valid') throw new ChallengeTypeFailure(challenge.type, authorizationError(settled, challenge.type));
    ctx.emit({ type: 'authorization-valid', orderUrl: order.url, identifier: authz.identifier, challengeType: challenge.type, reused: false });
  } finally {
    try {
      await solver.cleanup(info);
    } catch (err) {
      const error = new MyServerError('MS_ERR_CHALLENGE_FAILED', `cleaning up ${challenge.type} for ${who}`, { cause: err });
      ctx.emit({
        type: 'error',
        identifiers: [authz.identifier],
        attempt: ctx.attempt,
        challengeType: challenge.type,
        willRetry: false,
        stage: 'cleanup',
        error,
      });
    }
  }
}

/** The first enabled type the CA offers that has not failed yet; a failed one if nothing else is offered. */
function pickChallenge(ctx: FlowContext, authz: Authorization): Challenge {
  const offered = (t: string): Challenge | undefined => authz.challenges.find((c) => c.type === t);
  for (const t of ctx.enabled) {
    const c = offered(t);
    if (c !== undefined && !ctx.failedTypes.has(t)) return c;
  }
  for (const t of ctx.enabled) {
    const c = offered(t);
    if (c !== undefined) return c;
  }
  throw new MyServerError(
    'MS_ERR_CHALLENGE_FAILED',
    `obtaining certificate: the CA offers ${authz.challenges.map((c) => c.type).join(', ') || 'no challenges'} for ${authz.identifier.type} ${authz.identifier.value}; enabled: ${ctx.enabled.join(', ')}`,
  );
}

/**
 * Fetches until `done`, sleeping Retry-After (or, without one, a short wait that doubles up to the
 * cap: poll.ts) between fetches, for at most maxPollMs. Transient CA trouble (network errors, 5xx, 429) is retried within the same bound.
 */
async function poll<T extends { readonly status: string; readonly retryAfterMs?: number }>(
  ctx: FlowContext,
  what: string,
  fetch: () => Promise<T>,
  done: (t: T) => boolean,
  initial?: T,
  signal: AbortSignal | undefined = ctx.o.signal,
): Promise<T> {
  const maxPollMs = ctx.o.maxPollMs ?? DEFAULT_MAX_POLL_MS;
  const cap = ctx.o.pollIntervalMs ?? MAX_POLL_INTERVAL_MS;
  const deadline = ctx.now() + maxPollMs;
  let waits = 0;
  let current = initial;
  let lastStatus = initial?.status ?? 'unknown';
  for (;;) {
    let hint: number | undefined;
    if (current !== undefined) {
      if (done(current)) return current;
      lastStatus = current.status;
      hint = current.retryAfterMs;
    }
    const remaining = deadline - ctx.now();
    if (remaining <= 0) {
      throw new MyServerError('MS_ERR_ACME_TIMEOUT', `waiting for ${what}: still ${lastStatus} after ${maxPollMs}ms`);
    }
    if (current !== undefined) await ctx.sleep(Math.min(pollDelay(waits++, hint, cap), remaining), signal);
    try {
      current = await fetch();
    } catch (err) {
      if (!isTransient(err)) throw err;
      current = undefined;
      const wait = Math.min(pollDelay(waits++, findProblem(err)?.retryAfter, cap), Math.max(0, deadline - ctx.now()));
      if (deadline - ctx.now() <= 0) throw err;
      await ctx.sleep(wait, signal);
    }
  }
}

function isTransient(err: unknown): boolean {
  if (err instanceof MyServerError && err.code === 'MS_ERR_ACME_NETWORK') return true;
  const p = findProblem(err);
  return p !== undefined && p.status !== undefined && (p.status === 429 || p.status >= 500);
}

/** The CA's words for a failed authorization: the challenge's problem, else a description. */
function authorizationError(authz: Authorization, challengeType: string | undefined): Error {
  const failed =
    authz.challenges.find((c) => c.type === challengeType && c.error !== undefined) ?? authz.challenges.find((c) => c.error !== undefined);
  if (failed?.error !== undefined) {
    return AcmeProblem.fromDocument(failed.error, { url: failed.url, challengeType: failed.type, identifier: authz.identifier });
  }
  return new MyServerError('MS_ERR_CHALLENGE_FAILED', `authorization of ${authz.identifier.type} ${authz.identifier.value} is ${authz.status}`);
}

function orderError(order: Order): Error {
  if (order.error !== undefined) return AcmeProblem.fromDocument(order.error, { url: order.url });
  return new MyServerError('MS_ERR_ACME_PROTOCOL', `obtaining certificate: order ${order.url} is ${order.status}`);
}

async function downloadPreferred(
  client: AcmeClient,
  url: string,
  preferred: string | undefined,
  signal: AbortSignal | undefined,
): Promise<{ pem: string; url: string }> {
  const chain = await client.downloadCertificate(url, opt(signal));
  if (preferred === undefined || topIssuerCommonName(chain.pem) === preferred) return { pem: chain.pem, url };
  for (const alt of chain.alternates) {
    const c = await client.downloadCertificate(alt, opt(signal));
    if (topIssuerCommonName(c.pem) === preferred) return { pem: c.pem, url: alt };
  }
  // No chain matches: the default chain still works wherever its root is trusted.
  return { pem: chain.pem, url };
}

/** The issuer CN of the last certificate of a PEM chain. */
export function topIssuerCommonName(pem: string): string | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const last = blocks.at(-1);
  if (last === undefined) return undefined;
  try {
    const issuer = new X509Certificate(last).issuer;
    const cn = issuer.split('\n').find((l) => l.startsWith('CN='));
    return cn?.slice(3);
  } catch {
    return undefined;
  }
}

async function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, opt(signal));
  } catch (err) {
    if (signal?.aborted === true) throw abortedError(signal);
    throw err;
  }
}

function abortedError(signal: AbortSignal, cause: unknown = signal.reason): MyServerError {
  return new MyServerError('MS_ERR_ABORTED', 'obtaining certificate: aborted', { cause });
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}
