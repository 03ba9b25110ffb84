import { test } from 'node:test';
import assert from 'node:assert/strict';
import { covers, IssuanceHolds, liftParks, listHolds } from '../../../src/certs/holds.ts';
import { findProblem } from '../../../src/acme/problem.ts';
import type { IssuanceHold } from '../../../src/certs/issuer.ts';
import { tempStorage } from './helpers.ts';

const problem = { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'slow down', status: 429 };

test('hold coverage: names, domains (the domain and below) and the whole account', () => {
  const h = (scope: IssuanceHold['scope'], subjects: string[]): IssuanceHold => ({ scope, subjects, until: 1, parked: false, problem });
  const cases: [IssuanceHold, string[], boolean][] = [
    [h('names', ['a.test']), ['a.test'], true],
    [h('names', ['a.test']), ['A.TEST'], true],
    [h('names', ['a.test']), ['b.test'], false],
    [h('names', ['a.test']), ['b.test', 'a.test'], true],
    [h('domains', ['example.com']), ['example.com'], true],
    [h('domains', ['example.com']), ['www.example.com'], true],
    [h('domains', ['example.com']), ['badexample.com'], false],
    [h('account', []), ['anything.test'], true],
  ];
  for (const [hold, names, want] of cases) assert.equal(covers(hold, names), want, `${hold.scope} ${hold.subjects.join(',')} vs ${names.join(',')}`);
});

test('a recorded hold refuses covered names until it ends, with the CA\'s problem as cause, then expires', async () => {
  const tmp = await tempStorage();
  try {
    let now = 1_000_000;
    const holds = new IssuanceHolds(tmp.storage, 'ca.test-dir', () => now);
    await holds.record([{ scope: 'names', subjects: ['a.test'], until: now + 60_000, parked: false, problem }]);
    const refused = await holds.check(['a.test']);
    assert.ok(refused);
    assert.equal(refused.until, now + 60_000);
    assert.equal(refused.parked, false);
    assert.match(refused.message, /Retry-After/);
    const cause = findProblem(refused);
    assert.equal(cause?.type, problem.type);
    assert.equal(cause?.retryAfter, 60_000);
    assert.equal(await holds.check(['b.test']), undefined);
    // Another process (another instance over the same storage) sees it too.
    assert.ok(await new IssuanceHolds(tmp.other(), 'ca.test-dir', () => now).check(['a.test']));
    // Holds of one CA do not bind another.
    assert.equal(await new IssuanceHolds(tmp.storage, 'other-ca', () => now).check(['a.test']), undefined);
    now += 60_001;
    assert.equal(await holds.check(['a.test']), undefined);
    assert.deepEqual(await tmp.storage.list('acme/ca.test-dir/holds'), [], 'an expired hold is removed');
  } finally {
    await tmp.remove();
  }
});

test('a shorter hold does not shorten a longer one for the same subject', async () => {
  const tmp = await tempStorage();
  try {
    const now = 1_000_000;
    const holds = new IssuanceHolds(tmp.storage, 'ca', () => now);
    await holds.record([{ scope: 'account', subjects: [], until: now + 10_000, parked: false, problem }]);
    await holds.record([{ scope: 'account', subjects: [], until: now + 5_000, parked: false, problem }]);
    assert.equal((await holds.check(['x.test']))?.until, now + 10_000);
  } finally {
    await tmp.remove();
  }
});

test('liftParks removes parks of every CA and keeps the CA\'s waits', async () => {
  const tmp = await tempStorage();
  try {
    const now = Date.now();
    const caa = { type: 'urn:ietf:params:acme:error:caa', detail: 'CAA forbids' };
    await new IssuanceHolds(tmp.storage, 'one').record([{ scope: 'names', subjects: ['p.test'], until: now + 3600_000, parked: true, problem: caa }]);
    await new IssuanceHolds(tmp.storage, 'two').record([
      { scope: 'names', subjects: ['q.test'], until: now + 3600_000, parked: true, problem: caa },
      { scope: 'domains', subjects: ['example.com'], until: now + 3600_000, parked: false, problem },
    ]);
    assert.equal((await listHolds(tmp.storage)).length, 3);
    assert.equal(await liftParks(tmp.storage), 2);
    const left = await listHolds(tmp.storage);
    assert.deepEqual(left.map((h) => [h.issuer, h.scope, h.subjects, h.parked]), [['two', 'domains', ['example.com'], false]]);
  } finally {
    await tmp.remove();
  }
});

test('a damaged hold value is ignored, not fatal', async () => {
  const tmp = await tempStorage();
  try {
    await tmp.storage.put('acme/ca/holds/name_a.test.json', '{not json');
    assert.equal(await new IssuanceHolds(tmp.storage, 'ca').check(['a.test']), undefined);
    assert.deepEqual(await listHolds(tmp.storage), []);
  } finally {
    await tmp.remove();
  }
});
