import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRenewal, parseMeta, renewalTime, updatedAri, type CertificateMeta } from '../../../src/certs/meta.ts';

const DAY = 24 * 3600_000;
const issued = Date.parse('2025-01-01T00:00:00.000Z');
const at = (days: number): Date => new Date(issued + days * DAY);

function lifetime(days: number): Pick<CertificateMeta, 'notBefore' | 'notAfter'> {
  return { notBefore: at(0).toISOString(), notAfter: at(days).toISOString() };
}

test('renewalTime is when one third of the lifetime is left', () => {
  const cases: { days: number; renewAtDay: number }[] = [
    { days: 90, renewAtDay: 60 },
    { days: 7, renewAtDay: 7 - 7 / 3 },
    { days: 6, renewAtDay: 4 },
    { days: 45, renewAtDay: 30 },
    { days: 365, renewAtDay: 365 - 365 / 3 },
  ];
  for (const { days, renewAtDay } of cases) {
    assert.equal(renewalTime(lifetime(days)).getTime(), Math.round(at(renewAtDay).getTime()), `${days}-day certificate`);
  }
});

test('a 90-day certificate needs renewal from day 60 on, not before', () => {
  const meta = lifetime(90);
  const cases: [number, boolean][] = [
    [0, false],
    [30, false],
    [59.99, false],
    [60, true],
    [75, true],
    [90, true],
    [120, true],
  ];
  for (const [day, want] of cases) assert.equal(needsRenewal(meta, at(day)), want, `day ${day}`);
});

test('an ARI renewAt wins over the one-third rule, earlier or later', () => {
  const earlier = { ...lifetime(90), ari: { start: at(10).toISOString(), end: at(20).toISOString(), renewAt: at(15).toISOString(), checkedAt: at(1).toISOString() } };
  assert.equal(renewalTime(earlier).getTime(), at(15).getTime());
  assert.equal(needsRenewal(earlier, at(14)), false);
  assert.equal(needsRenewal(earlier, at(15)), true);
  assert.equal(needsRenewal(earlier, at(30)), true);

  const later = { ...lifetime(90), ari: { start: at(70).toISOString(), end: at(80).toISOString(), renewAt: at(75).toISOString(), checkedAt: at(1).toISOString() } };
  assert.equal(renewalTime(later).getTime(), at(75).getTime());
  assert.equal(needsRenewal(later, at(65)), false, 'the one-third rule alone would renew at day 60');
  assert.equal(needsRenewal(later, at(75)), true);
});

test('an ARI renewAt at or past notAfter is capped at the last tenth of the lifetime', () => {
  for (const renewAtDay of [89, 90, 120]) {
    const broken = { ...lifetime(90), ari: { start: at(85).toISOString(), end: at(130).toISOString(), renewAt: at(renewAtDay).toISOString(), checkedAt: at(1).toISOString() } };
    assert.equal(renewalTime(broken).getTime(), at(81).getTime(), `renewAt day ${renewAtDay}`);
    assert.equal(needsRenewal(broken, at(81)), true);
  }
});

test('parseMeta reads back what JSON.stringify wrote', () => {
  const meta: CertificateMeta = {
    names: ['a.test', '*.a.test'],
    issuer: 'local',
    issuerName: 'my-server Local Authority - ECC Intermediate',
    serialHex: '0abc',
    ...lifetime(7),
    obtainedAt: at(0).toISOString(),
    keyType: 'p256',
  };
  assert.deepEqual(parseMeta(Buffer.from(JSON.stringify(meta, null, 2))), meta);
  assert.throws(() => parseMeta(Buffer.from('{not json')));
});

test('a certificate younger than a tenth of its lifetime (by when it was obtained, our clock) is never due', () => {
  // Obtained with our clock 80 days ahead of the CA's: by that clock it is past day 60 at once.
  const skewed = { ...lifetime(90), obtainedAt: at(80).toISOString() };
  const cases: [number, boolean][] = [
    [80, false],
    [80 + 1 / 1440, false],
    [88.99, false],
    [89, true],
    [100, true],
  ];
  for (const [day, want] of cases) assert.equal(needsRenewal(skewed, at(day)), want, `day ${day}`);
  assert.equal(renewalTime(skewed).getTime(), at(89).getTime());
  // On a right clock the floor (day 9) is long past at day 60: the lifetime rule decides.
  assert.equal(renewalTime({ ...lifetime(90), obtainedAt: at(0).toISOString() }).getTime(), at(60).getTime());
  // Unreadable obtainedAt: the lifetime rule alone, as before.
  assert.equal(renewalTime({ ...lifetime(90), obtainedAt: 'yesterday' }).getTime(), at(60).getTime());
});

test('an ARI window the CA moved earlier lifts the minimum age; the first window or one moved later does not', () => {
  const w = (startDay: number, endDay: number, retryAfterMs = 6 * 3600_000) => ({
    suggestedWindow: { start: at(startDay), end: at(endDay) },
    retryAfterMs,
  });
  const first = updatedAri(undefined, w(60, 62), at(1), () => 0.5);
  assert.equal(first.movedEarlierAt, undefined);
  const same = updatedAri(first, w(60, 62), at(2), () => 0.5);
  assert.equal(same.movedEarlierAt, undefined);
  const later = updatedAri(first, w(70, 72), at(2), () => 0.5);
  assert.equal(later.movedEarlierAt, undefined);
  const earlier = updatedAri(first, w(1, 2), at(3), () => 0.5);
  assert.equal(earlier.movedEarlierAt, at(3).toISOString());
  assert.equal(updatedAri(earlier, w(1, 2), at(4), () => 0.5).movedEarlierAt, at(3).toISOString(), 'kept while the window stands');

  // Obtained at day 2 (young: the floor would be day 11); the CA moved the window to days 1-2.
  const meta = { ...lifetime(90), obtainedAt: at(2).toISOString() };
  assert.equal(needsRenewal({ ...meta, ari: same }, at(3)), false);
  assert.equal(needsRenewal({ ...meta, ari: earlier }, at(3)), true, 'the CA asks: renew now');
});
