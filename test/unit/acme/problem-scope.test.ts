import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import { isPermanentProblemType, isWaitRequest, refusalOf, type RefusalContext } from '../../../src/acme/problem-scope.ts';

const NS = 'urn:ietf:params:acme:error:';
const ACCOUNT = 'https://ca.test/acme/acct/123456789';
const NEW_ACCOUNT = 'https://ca.test/acme/new-acct';

function problem(type: string, detail: string, extra: Partial<ConstructorParameters<typeof AcmeProblem>[0]> = {}): AcmeProblem {
  return new AcmeProblem({ type: NS + type, detail, ...extra });
}

const ctx = (names: string[]): RefusalContext => ({ names, accountUrl: ACCOUNT, newAccountUrl: NEW_ACCOUNT });

test('scope of a refusal: table of CA answers', () => {
  const cases: { name: string; p: AcmeProblem; names: string[]; scope: unknown; retryAfterMs?: number }[] = [
    {
      name: 'exact-set rate limit: the order\'s names',
      p: problem('rateLimited', 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s', { status: 429, retryAfter: 60_000 }),
      names: ['a.example.com', 'b.example.com'],
      scope: { kind: 'names', names: ['a.example.com', 'b.example.com'] },
      retryAfterMs: 60_000,
    },
    {
      name: 'registered domain named in quotes: every name under it',
      p: problem('rateLimited', 'too many certificates (50) already issued for "example.com" in the last 168h0m0s, retry after 2026-12-05T00:00:00Z: see https://letsencrypt.org/docs/rate-limits/', { status: 429, retryAfter: 5_000 }),
      names: ['www.example.com'],
      scope: { kind: 'domains', domains: ['example.com'] },
      retryAfterMs: 5_000,
    },
    {
      name: 'the account named by the word',
      p: problem('rateLimited', 'too many new orders (300) from this account in the last 3h0m0s', { status: 429, retryAfter: 1_000 }),
      names: ['a.test'],
      scope: { kind: 'account' },
      retryAfterMs: 1_000,
    },
    {
      name: 'the account named by its id only',
      p: problem('rateLimited', 'limit for 123456789 reached', { status: 429, retryAfter: 1_000 }),
      names: ['a.test'],
      scope: { kind: 'account' },
      retryAfterMs: 1_000,
    },
    {
      name: 'any problem on newAccount is the account\'s',
      p: problem('rateLimited', 'too many', { status: 429, retryAfter: 2_000, url: NEW_ACCOUNT }),
      names: ['a.test'],
      scope: { kind: 'account' },
      retryAfterMs: 2_000,
    },
    {
      name: 'a 503 with Retry-After: the whole service',
      p: problem('serverInternal', 'maintenance', { status: 503, retryAfter: 30_000 }),
      names: ['a.test'],
      scope: { kind: 'account' },
      retryAfterMs: 30_000,
    },
    {
      name: 'subproblems with identifiers: those names',
      p: problem('rateLimited', 'some identifiers are limited', {
        status: 429,
        retryAfter: 1_000,
        subproblems: [{ type: NS + 'rateLimited', detail: 'too many failed authorizations', identifier: { type: 'dns', value: 'B.test' } }],
      }),
      names: ['a.test', 'b.test'],
      scope: { kind: 'names', names: ['b.test'] },
      retryAfterMs: 1_000,
    },
    {
      name: 'a domain the order does not contain is not a scope',
      p: problem('rateLimited', 'see "other.example" for details', { status: 429, retryAfter: 1_000 }),
      names: ['a.test'],
      scope: { kind: 'names', names: ['a.test'] },
      retryAfterMs: 1_000,
    },
    {
      name: 'a Retry-After on a 400 is no wait request',
      p: problem('malformed', 'bad', { status: 400, retryAfter: 1_000 }),
      names: ['a.test'],
      scope: { kind: 'names', names: ['a.test'] },
    },
  ];
  for (const c of cases) {
    const r = refusalOf(c.p, ctx(c.names));
    assert.deepEqual(r.scope, c.scope, c.name);
    assert.equal(r.retryAfterMs, c.retryAfterMs, c.name);
    assert.deepEqual(r.permanentNames, [], c.name);
  }
});

test('permanent problems name the names no retry can help', () => {
  for (const t of ['rejectedIdentifier', 'unsupportedIdentifier', 'caa', 'badCSR']) assert.ok(isPermanentProblemType(NS + t), t);
  for (const t of ['rateLimited', 'connection', 'dns', 'badNonce', 'serverInternal', 'accountDoesNotExist']) assert.ok(!isPermanentProblemType(NS + t), t);

  const top = refusalOf(problem('rejectedIdentifier', 'will not issue', { status: 400 }), ctx(['a.test', 'b.test']));
  assert.deepEqual(top.permanentNames, ['a.test', 'b.test']);
  assert.equal(top.permanentProblem?.type, NS + 'rejectedIdentifier');

  const challenge = refusalOf(problem('caa', 'CAA forbids', { identifier: { type: 'dns', value: 'b.test' } }), ctx(['a.test', 'b.test']));
  assert.deepEqual(challenge.permanentNames, ['b.test'], 'the identifier of a challenge\'s problem');

  const compound = refusalOf(
    problem('compound', 'several', {
      status: 403,
      subproblems: [
        { type: NS + 'caa', detail: 'CAA for c.test', identifier: { type: 'dns', value: 'c.test' } },
        { type: NS + 'dns', detail: 'SERVFAIL', identifier: { type: 'dns', value: 'd.test' } },
      ],
    }),
    ctx(['c.test', 'd.test']),
  );
  assert.deepEqual(compound.permanentNames, ['c.test'], 'only the permanent subproblem\'s name');
  assert.deepEqual(compound.permanentProblem, { type: NS + 'caa', detail: 'CAA for c.test' });
});

test('only 429, 503 and rateLimited answers with Retry-After ask for a wait', () => {
  assert.ok(isWaitRequest(problem('rateLimited', '', { status: 429, retryAfter: 1 })));
  assert.ok(isWaitRequest(problem('serverInternal', '', { status: 503, retryAfter: 1 })));
  assert.ok(!isWaitRequest(problem('rateLimited', '', { status: 429 })));
  assert.ok(!isWaitRequest(problem('malformed', '', { status: 400, retryAfter: 1 })));
});
