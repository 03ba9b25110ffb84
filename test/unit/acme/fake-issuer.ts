import type { Identifier, ProblemDocument } from '../../../src/acme/types.ts';
import type { FakeCa, FakeReply, RecordedRequest } from './fake-ca.ts';

/**
 * Order, authorization and certificate resources on a FakeCa, following RFC 8555 §7.1.6's state
 * machines closely enough to drive obtainCertificate: orders go pending → ready → processing →
 * valid (or invalid when an authorization fails), authorizations settle `settleAfterPolls` polls
 * after their challenge is answered, as `outcome` decides.
 */
export interface IssuerScript {
  /** 'valid', 'pending' (never settles) or the challenge's error document. Default 'valid'. */
  readonly outcome?: (challengeType: string, identifier: Identifier, orderNumber: number) => 'valid' | 'pending' | ProblemDocument;
  /** Challenge types each authorization offers. */
  readonly offered?: readonly string[];
  /** Polls of a responded authorization that still answer "pending". Default 1. */
  readonly settleAfterPolls?: number;
  /** Retry-After header value on pending authorization polls. */
  readonly authzRetryAfter?: string;
  /** Authorizations that are valid from the start (reused by the CA). */
  readonly validFromStart?: (identifier: Identifier) => boolean;
  /** The default chain and the alternates, as PEM. */
  readonly chains?: readonly string[];
}

interface ChallengeState {
  readonly type: string;
  readonly token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  error?: ProblemDocument;
}

interface AuthzState {
  readonly identifier: Identifier;
  status: 'pending' | 'valid' | 'invalid';
  readonly challenges: ChallengeState[];
  responded?: string;
  pollsLeft: number;
}

export interface OrderState {
  readonly n: number;
  readonly identifiers: Identifier[];
  readonly payload: Record<string, unknown>;
  readonly authzs: AuthzState[];
  finalized: boolean;
  csr?: string;
  pollsAfterFinalize: number;
}

export function installIssuer(ca: FakeCa, script: IssuerScript = {}): { orders: OrderState[] } {
  const orders: OrderState[] = [];
  const offered = script.offered ?? ['http-01', 'dns-01', 'tls-alpn-01'];
  const chains = script.chains ?? ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'];

  const orderStatus = (o: OrderState): string => {
    if (o.authzs.some((a) => a.status === 'invalid')) return 'invalid';
    if (o.authzs.some((a) => a.status === 'pending')) return 'pending';
    if (!o.finalized) return 'ready';
    return o.pollsAfterFinalize > 0 ? 'processing' : 'valid';
  };
  const orderBody = (o: OrderState): Record<string, unknown> => {
    const status = orderStatus(o);
    return {
      status,
      identifiers: o.identifiers,
      authorizations: o.authzs.map((_, i) => `${ca.url}/authz/${o.n}/${i}`),
      finalize: `${ca.url}/finalize/${o.n}`,
      ...(status === 'valid' ? { certificate: `${ca.url}/cert/${o.n}` } : {}),
      ...(status === 'invalid' ? { error: { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'an authorization failed' } } : {}),
    };
  };
  const authzBody = (n: number, i: number, a: AuthzState): Record<string, unknown> => ({
    identifier: a.identifier,
    status: a.status,
    challenges: a.challenges.map((c) => ({
      type: c.type,
      url: `${ca.url}/chall/${n}/${i}/${c.type}`,
      status: c.status,
      token: c.token,
      ...(c.error === undefined ? {} : { error: c.error }),
    })),
  });
  const find = (req: RecordedRequest): { o: OrderState; a: AuthzState; i: number } | undefined => {
    const [, , n, i] = req.path.split('/');
    const o = orders[Number(n) - 1];
    const a = o?.authzs[Number(i)];
    return o && a ? { o, a, i: Number(i) } : undefined;
  };

  ca.on('/new-order', (req) => {
    const payload = req.payload as { identifiers: Identifier[] };
    const n = orders.length + 1;
    const o: OrderState = {
      n,
      identifiers: payload.identifiers,
      payload: req.payload as Record<string, unknown>,
      authzs: payload.identifiers.map((identifier, i) => ({
        identifier,
        status: script.validFromStart?.(identifier) === true ? 'valid' : 'pending',
        challenges: offered.map((type) => ({ type, token: `tok-${n}-${i}-${type}`, status: 'pending' as const })),
        pollsLeft: script.settleAfterPolls ?? 1,
      })),
      finalized: false,
      pollsAfterFinalize: 1,
    };
    orders.push(o);
    return { status: 201, headers: { location: `${ca.url}/order/${n}` }, body: orderBody(o) };
  });
  ca.onPrefix('/order/', (req) => {
    const o = orders[Number(req.path.split('/')[2]) - 1];
    if (o === undefined) return { status: 404 };
    if (o.finalized && o.pollsAfterFinalize > 0) {
      const reply: FakeReply = { body: orderBody(o), headers: { 'retry-after': '2' } };
      o.pollsAfterFinalize--;
      return reply;
    }
    return { body: orderBody(o) };
  });
  ca.onPrefix('/authz/', (req) => {
    const hit = find(req);
    if (hit === undefined) return { status: 404 };
    const { o, a, i } = hit;
    if (a.responded !== undefined && a.status === 'pending') {
      if (a.pollsLeft > 0) a.pollsLeft--;
      else settle(a, o.n);
    }
    return {
      body: authzBody(o.n, i, a),
      ...(a.status === 'pending' && script.authzRetryAfter !== undefined ? { headers: { 'retry-after': script.authzRetryAfter } } : {}),
    };
  });
  const settle = (a: AuthzState, n: number): void => {
    const c = a.challenges.find((x) => x.type === a.responded);
    if (c === undefined) return;
    const result = script.outcome?.(c.type, a.identifier, n) ?? 'valid';
    if (result === 'pending') return;
    if (result === 'valid') {
      c.status = 'valid';
      a.status = 'valid';
    } else {
      c.status = 'invalid';
      c.error = result;
      a.status = 'invalid';
    }
  };
  ca.onPrefix('/chall/', (req) => {
    const hit = find(req);
    const type = req.path.split('/')[4];
    const c = hit?.a.challenges.find((x) => x.type === type);
    if (hit === undefined || c === undefined) return { status: 404 };
    hit.a.responded = c.type;
    c.status = 'processing';
    return { body: { type: c.type, url: `${ca.url}${req.path}`, status: c.status, token: c.token } };
  });
  ca.onPrefix('/finalize/', (req) => {
    const o = orders[Number(req.path.split('/')[2]) - 1];
    if (o === undefined) return { status: 404 };
    if (orderStatus(o) !== 'ready') return { status: 403, body: { type: 'urn:ietf:params:acme:error:orderNotReady', detail: 'not ready' } };
    o.finalized = true;
    o.csr = (req.payload as { csr: string }).csr;
    return { body: orderBody(o), headers: { 'retry-after': '3' } };
  });
  ca.onPrefix('/cert/', (req) => {
    const parts = req.path.split('/');
    const alt = parts[3] === 'alt' ? Number(parts[4]) : 0;
    const links = chains.slice(1).map((_, k) => `<${ca.url}/cert/${parts[2]}/alt/${k + 1}>;rel="alternate"`);
    return {
      headers: { 'content-type': 'application/pem-certificate-chain', ...(alt === 0 && links.length > 0 ? { link: links } : {}) },
      body: chains[alt] ?? '',
    };
  });
  return { orders };
}
