import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ChallengeInfo, Solver } from '../../../src/challenges/solver.ts';
import { AcmeClient } from '../../../src/acme/client.ts';
import { ACME_CHANNELS, type AcmeEvent } from '../../../src/acme/events.ts';
import { obtainCertificate, topIssuerCommonName, type ObtainCertificateOptions } from '../../../src/acme/flow.ts';
import { generateAccountKey } from '../../../src/acme/jws.ts';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import type { Identifier, ProblemDocument } from '../../../src/acme/types.ts';
import { startFakeCa, type FakeCa } from './fake-ca.ts';
import { installIssuer, type IssuerScript, type OrderState } from './fake-issuer.ts';
import { RFC9773_EXAMPLE_CERT } from './fixtures.ts';

let otherRootPem = '';
before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-acme-flow-'));
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-days', '1',
      '-subj', '/CN=Other Root X2', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    otherRootPem = await readFile(join(dir, 'cert.pem'), 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A Solver that records what it was asked and can be told to fail. */
class RecordingSolver implements Solver {
  readonly calls: string[] = [];
  readonly presented: ChallengeInfo[] = [];
  failPresent = false;
  async present(c: ChallengeInfo): Promise<void> {
    this.calls.push(`present ${c.type} ${c.identifier.value}`);
    this.presented.push(c);
    if (this.failPresent) throw new Error('port 443 is taken');
  }
  async cleanup(c: ChallengeInfo): Promise<void> {
    this.calls.push(`cleanup ${c.type} ${c.identifier.value}`);
  }
}

interface Harness {
  ca: FakeCa;
  client: AcmeClient;
  orders: OrderState[];
  alpn: RecordingSolver;
  http: RecordingSolver;
  events: AcmeEvent[];
  sleeps: number[];
  /** obtainCertificate with the harness' solvers, clock and event sink. */
  obtain(extra?: Partial<ObtainCertificateOptions>): ReturnType<typeof obtainCertificate>;
}

const NAMES: Identifier[] = [
  { type: 'dns', value: 'a.test' },
  { type: 'ip', value: '192.0.2.7' },
];

async function withIssuer(script: IssuerScript, fn: (h: Harness) => Promise<void>, directory?: Record<string, unknown>): Promise<void> {
  const ca = await startFakeCa(directory === undefined ? {} : { directory });
  const { orders } = installIssuer(ca, script);
  const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateAccountKey(), accountUrl: `${ca.url}/acct/1` });
  const alpn = new RecordingSolver();
  const http = new RecordingSolver();
  const events: AcmeEvent[] = [];
  const sleeps: number[] = [];
  let clock = 1_000_000;
  const h: Harness = {
    ca,
    client,
    orders,
    alpn,
    http,
    events,
    sleeps,
    obtain: (extra = {}) =>
      obtainCertificate(client, {
        identifiers: NAMES,
        csrDer: new Uint8Array([0x30, 0x00]),
        solvers: new Map<string, Solver>([
          ['tls-alpn-01', alpn],
          ['http-01', http],
        ]),
        onEvent: (e) => events.push(e),
        sleep: async (ms) => {
          sleeps.push(ms);
          clock += ms;
        },
        now: () => clock,
        ...extra,
      }),
  };
  try {
    await fn(h);
  } finally {
    client.close();
    await ca.close();
  }
}

test('issues with the preferred challenge type, honours Retry-After while polling, and cleans up every presented challenge', async () => {
  await withIssuer({ authzRetryAfter: '4', chains: [RFC9773_EXAMPLE_CERT] }, async (h) => {
    const got = await h.obtain();
    assert.equal(got.certificatePem, RFC9773_EXAMPLE_CERT);
    assert.equal(got.orderUrl, `${h.ca.url}/order/1`);
    assert.equal(got.certificateUrl, `${h.ca.url}/cert/1`);
    assert.equal(h.orders.length, 1);
    assert.deepEqual(h.orders[0]?.payload, { identifiers: NAMES });
    assert.equal(h.orders[0]?.csr, 'MAA');
    assert.deepEqual(h.alpn.calls.sort(), ['cleanup tls-alpn-01 192.0.2.7', 'cleanup tls-alpn-01 a.test', 'present tls-alpn-01 192.0.2.7', 'present tls-alpn-01 a.test']);
    assert.deepEqual(h.http.calls, []);
    const info = h.alpn.presented.find((c) => c.identifier.value === 'a.test');
    assert.ok(info);
    assert.equal(info.keyAuthorization, await h.client.keyAuthorization(info.token));
    // 4 s from the pending authorizations' Retry-After, 3 s from finalize's, 2 s from the processing order's.
    assert.ok(h.sleeps.includes(4000));
    assert.ok(h.sleeps.includes(3000));
    assert.ok(h.sleeps.includes(2000));
    assert.deepEqual(
      h.events.map((e) => e.type),
      ['order-created', 'challenge-presented', 'challenge-presented', 'authorization-valid', 'authorization-valid', 'certificate-obtained'],
    );
    for (const r of h.ca.requests.filter((x) => x.path.startsWith('/authz/') || x.path.startsWith('/cert/'))) {
      assert.equal(r.jws?.payload, '', `${r.path} is read with POST-as-GET`);
    }
    assert.deepEqual(h.ca.requests.find((x) => x.path.startsWith('/chall/'))?.payload, {});
  });
});

test('when one challenge type fails, the next order uses another enabled type', async () => {
  const blocked = { type: 'urn:ietf:params:acme:error:connection', detail: '192.0.2.7: Connection refused' };
  await withIssuer({ outcome: (type) => (type === 'tls-alpn-01' ? blocked : 'valid') }, async (h) => {
    await h.obtain();
    assert.equal(h.orders.length, 2);
    assert.ok(h.http.calls.includes('present http-01 a.test'));
    assert.ok(h.http.calls.includes('cleanup http-01 192.0.2.7'));
    const errors = h.events.filter((e) => e.type === 'error');
    assert.equal(errors.length, 1);
    const [first] = errors;
    assert.ok(first?.type === 'error');
    assert.equal(first.challengeType, 'tls-alpn-01');
    assert.equal(first.willRetry, true);
    assert.ok(first.error instanceof AcmeProblem);
    assert.equal(first.error.type, 'urn:ietf:params:acme:error:connection');
  });
});

test('when every enabled type fails, the CA problem document is thrown with its subproblems', async () => {
  const failure = {
    type: 'urn:ietf:params:acme:error:unauthorized',
    detail: 'Invalid response from http://a.test/.well-known/acme-challenge/x: 404',
    status: 403,
    subproblems: [{ type: 'urn:ietf:params:acme:error:dns', detail: 'no AAAA', identifier: { type: 'dns', value: 'a.test' } }],
  } satisfies ProblemDocument;
  await withIssuer({ outcome: (_type, id) => (id.value === 'a.test' ? failure : 'valid') }, async (h) => {
    const err = await h.obtain().catch((e: unknown) => e);
    assert.ok(err instanceof AcmeProblem, String(err));
    assert.equal(err.type, 'urn:ietf:params:acme:error:unauthorized');
    assert.equal(err.detail, failure.detail);
    assert.equal(err.status, 403);
    assert.deepEqual(err.identifier, { type: 'dns', value: 'a.test' });
    assert.deepEqual(err.subproblems, [{ type: 'urn:ietf:params:acme:error:dns', detail: 'no AAAA', identifier: { type: 'dns', value: 'a.test' } }]);
    assert.equal(err.challengeType, 'http-01');
    assert.match(err.url ?? '', /\/chall\/2\/0\/http-01$/);
    // one order per enabled type, each presented challenge cleaned up
    assert.equal(h.orders.length, 2);
    for (const s of [h.alpn, h.http]) {
      assert.equal(s.calls.filter((c) => c.startsWith('present')).length, s.calls.filter((c) => c.startsWith('cleanup')).length);
    }
    const last = h.events.at(-1);
    assert.ok(last?.type === 'error' && last.willRetry === false);
  });
});

test('an authorization that never settles fails with MS_ERR_ACME_TIMEOUT after maxPollMs, and is cleaned up', async () => {
  await withIssuer({ outcome: () => 'pending', authzRetryAfter: '10' }, async (h) => {
    const err = await h.obtain({ challengeTypes: ['http-01'], maxPollMs: 45_000 }).catch((e: unknown) => e);
    assert.equal((err as { code?: string }).code, 'MS_ERR_ACME_TIMEOUT');
    assert.match((err as Error).message, /still pending after 45000ms/);
    assert.equal(h.orders.length, 1);
    const total = h.sleeps.reduce((a, b) => a + b, 0);
    assert.ok(total <= 45_000 * 2, `slept ${total} ms`); // two authorizations polled side by side
    assert.ok(h.sleeps.every((ms) => ms <= 10_000));
    assert.deepEqual(h.http.calls.filter((c) => c.startsWith('cleanup')).length, 2);
  });
});

test('a solver that cannot present counts as a failure of its type', async () => {
  await withIssuer({}, async (h) => {
    h.alpn.failPresent = true;
    await h.obtain();
    assert.equal(h.orders.length, 2);
    assert.ok(h.http.calls.includes('present http-01 a.test'));
    const [error] = h.events.filter((e) => e.type === 'error');
    assert.ok(error?.type === 'error');
    assert.equal((error.error as { code?: string }).code, 'MS_ERR_CHALLENGE_FAILED');
  });
});

test('authorizations the CA already holds as valid are not solved again', async () => {
  await withIssuer({ validFromStart: (id) => id.type === 'ip' }, async (h) => {
    await h.obtain();
    assert.deepEqual(h.alpn.calls.filter((c) => c.startsWith('present')), ['present tls-alpn-01 a.test']);
    const reused = h.events.find((e) => e.type === 'authorization-valid' && e.reused);
    assert.ok(reused);
  });
});

test('preferredChain picks the alternate whose topmost issuer CN matches, else keeps the default', async () => {
  assert.equal(topIssuerCommonName(RFC9773_EXAMPLE_CERT), 'Example CA');
  await withIssuer({ chains: [RFC9773_EXAMPLE_CERT, otherRootPem] }, async (h) => {
    const preferred = await h.obtain({ preferredChain: 'Other Root X2' });
    assert.equal(preferred.certificatePem, otherRootPem);
    assert.equal(preferred.certificateUrl, `${h.ca.url}/cert/1/alt/1`);
    const fallback = await h.obtain({ preferredChain: 'No Such Root' });
    assert.equal(fallback.certificatePem, RFC9773_EXAMPLE_CERT);
    const plain = await h.obtain();
    assert.equal(plain.certificatePem, RFC9773_EXAMPLE_CERT);
  });
});

test('profile and replaces are sent only when the directory offers profiles and renewalInfo', async () => {
  await withIssuer({}, async (h) => {
    await h.obtain({ profile: 'shortlived', replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' });
    assert.equal(h.orders[0]?.payload.profile, 'shortlived');
    assert.equal(h.orders[0]?.payload.replaces, 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    await h.obtain({ profile: 'unknown' });
    assert.equal(h.orders[1]?.payload.profile, undefined);
  }, { meta: { profiles: { classic: 'the usual', shortlived: '6 days' } } });
  await withIssuer({}, async (h) => {
    await h.obtain({ profile: 'shortlived', replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' });
    assert.deepEqual(h.orders[0]?.payload, { identifiers: NAMES });
  }, { renewalInfo: undefined });
});

test('an order with an IP identifier and no profile asks for shortlived when the CA offers it (Let\'s Encrypt issues IPs only so)', async () => {
  const offered = { meta: { profiles: { classic: 'the usual', shortlived: '6 days' } } };
  await withIssuer({}, async (h) => {
    await h.obtain();
    assert.equal(h.orders[0]?.payload.profile, 'shortlived', 'NAMES holds an IP identifier');
    await h.obtain({ identifiers: NAMES.filter((i) => i.type === 'dns') });
    assert.equal(h.orders[1]?.payload.profile, undefined, 'DNS names alone keep the CA default');
    await h.obtain({ profile: 'classic' });
    assert.equal(h.orders[2]?.payload.profile, 'classic', 'a configured profile wins');
  }, offered);
  await withIssuer({}, async (h) => {
    await h.obtain();
    assert.equal(h.orders[0]?.payload.profile, undefined, 'not offered: not asked for');
  });
});

test('an alreadyReplaced newOrder is retried without replaces', async () => {
  await withIssuer({}, async (h) => {
    const next = h.ca.route('/new-order');
    assert.ok(next);
    h.ca.on('/new-order', (req) =>
      (req.payload as { replaces?: string }).replaces === undefined
        ? next(req)
        : { status: 409, body: { type: 'urn:ietf:params:acme:error:alreadyReplaced', detail: 'already replaced' } },
    );
    await h.obtain({ replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' });
    const sent = h.ca.to('/new-order').map((r) => (r.payload as { replaces?: string }).replaces);
    assert.deepEqual(sent, ['aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', undefined]);
    assert.equal(h.orders.length, 1);
  });
});

test('events are published on the my-server:acme:* diagnostics channels', async () => {
  const got: string[] = [];
  const listeners = Object.entries(ACME_CHANNELS).map(([type, name]) => {
    const fn = (msg: unknown): void => void got.push(`${name}:${(msg as AcmeEvent).type === type ? 'ok' : 'mismatch'}`);
    diagnosticsChannel.subscribe(name, fn);
    return [name, fn] as const;
  });
  try {
    await withIssuer({ outcome: (type) => (type === 'tls-alpn-01' ? { type: 'urn:ietf:params:acme:error:tls', detail: 'no' } : 'valid') }, async (h) => {
      await h.obtain();
    });
  } finally {
    for (const [name, fn] of listeners) diagnosticsChannel.unsubscribe(name, fn);
  }
  // clock-skew comes from the HTTP transport, only when the CA's clock disagrees (manager-renewal tests it).
  for (const name of Object.values(ACME_CHANNELS)) if (name !== ACME_CHANNELS['clock-skew']) assert.ok(got.includes(`${name}:ok`), name);
  assert.ok(!got.includes(`${ACME_CHANNELS['clock-skew']}:ok`), 'the fake CA keeps our time');
  assert.ok(!got.some((g) => g.endsWith('mismatch')));
});

test('aborting stops the flow with MS_ERR_ABORTED and still cleans up', async () => {
  await withIssuer({ outcome: () => 'pending' }, async (h) => {
    const ac = new AbortController();
    const run = h.obtain({
      signal: ac.signal,
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(resolve, Math.min(ms, 20));
          signal?.addEventListener('abort', () => {
            clearTimeout(t);
            reject(new Error('aborted'));
          });
        }),
      now: Date.now,
    });
    setTimeout(() => ac.abort(), 150);
    await assert.rejects(run, { code: 'MS_ERR_ABORTED' });
    assert.equal(h.orders.length, 1);
    const presents = h.alpn.calls.filter((c) => c.startsWith('present')).length;
    assert.equal(h.alpn.calls.filter((c) => c.startsWith('cleanup')).length, presents);
  });
});

test('no solver for any challenge type is a usage error, before any request', async () => {
  await withIssuer({}, async (h) => {
    await assert.rejects(h.obtain({ challengeTypes: ['dns-01'] }), { code: 'MS_ERR_USAGE' });
    assert.equal(h.orders.length, 0);
  });
});
