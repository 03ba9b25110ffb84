/**
 * The modules split out of the certificate manager, on their own: renewal timing (renewal-schedule),
 * the on-demand failure cache (on-demand-failures) and the clock-skew wording (clock-skew); and
 * through the manager, a clock that jumps while a renewal is being stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import type { Clock } from '../../../src/certs/clock.ts';
import { describeSkew } from '../../../src/certs/clock-skew.ts';
import { IssuanceRefused } from '../../../src/certs/issuer.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager } from '../../../src/certs/manager.ts';
import type { CertificateMeta } from '../../../src/certs/meta.ts';
import { OnDemandFailures } from '../../../src/certs/on-demand-failures.ts';
import { renewalDelay } from '../../../src/certs/renewal-schedule.ts';
import { MyServerError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { CountingIssuer, delay, eventually, StepClock, tempStorage } from './helpers.ts';

const MIN = 60_000;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-01-01T00:00:00Z');

function meta(o: { notBefore: number; notAfter: number; obtainedAt: number; movedEarlierAt?: number }): CertificateMeta {
  return {
    names: ['a.test'],
    issuer: 'local',
    issuerName: 'test',
    serialHex: '01',
    keyType: 'p256',
    notBefore: new Date(o.notBefore).toISOString(),
    notAfter: new Date(o.notAfter).toISOString(),
    obtainedAt: new Date(o.obtainedAt).toISOString(),
    ...(o.movedEarlierAt !== undefined
      ? { ari: { start: new Date(T0).toISOString(), end: new Date(T0 + HOUR).toISOString(), renewAt: new Date(T0).toISOString(), checkedAt: new Date(o.movedEarlierAt).toISOString(), movedEarlierAt: new Date(o.movedEarlierAt).toISOString() } }
      : {}),
  };
}

test('renewalDelay: lifetime rule, minimum age, minimum interval from the later of obtainedAt and our last order, order cap, early-timer floor', () => {
  const ninety = meta({ notBefore: T0, notAfter: T0 + 90 * DAY, obtainedAt: T0 });
  const cases: { name: string; m: CertificateMeta; now: number; allowedAt?: number; lastOrderAt?: number; minDelayMs?: number; want: number }[] = [
    { name: 'fresh 90-day: at one third left', m: ninety, now: T0, want: 60 * DAY },
    { name: 'past its time: now', m: ninety, now: T0 + 70 * DAY, want: 0 },
    { name: 'clock 80 days ahead: a tenth of the lifetime after obtainedAt', m: meta({ notBefore: T0, notAfter: T0 + 90 * DAY, obtainedAt: T0 + 80 * DAY }), now: T0 + 80 * DAY, want: 9 * DAY },
    { name: 'order cap: not before allowedAt', m: ninety, now: T0 + 70 * DAY, allowedAt: T0 + 70 * DAY + HOUR, want: HOUR },
    { name: 'early timer: not before minDelayMs', m: ninety, now: T0 + 70 * DAY, minDelayMs: 1_000, want: 1_000 },
    // The CA moved its window earlier: the minimum age is lifted, the minimum interval is not.
    { name: 'ARI moved earlier, just obtained: one minute', m: meta({ notBefore: T0, notAfter: T0 + 90 * DAY, obtainedAt: T0 + DAY, movedEarlierAt: T0 + DAY }), now: T0 + DAY, want: MIN },
    { name: 'short-lived (5 min): a tenth of the lifetime, not a minute', m: meta({ notBefore: T0, notAfter: T0 + 5 * MIN, obtainedAt: T0, movedEarlierAt: T0 }), now: T0, want: 30_000 },
    // The clock jumped 1.3 days between obtainedAt and the certificate's arrival (our last order).
    { name: 'clock jumped while storing: one minute from the arrival', m: meta({ notBefore: T0, notAfter: T0 + 7 * DAY, obtainedAt: T0 + 4.7 * DAY }), now: T0 + 6 * DAY, lastOrderAt: T0 + 6 * DAY, want: MIN },
    { name: 'an old order does not delay a certificate loaded later', m: meta({ notBefore: T0, notAfter: T0 + 7 * DAY, obtainedAt: T0 }), now: T0 + 6 * DAY, lastOrderAt: T0 + 2 * DAY, want: 0 },
  ];
  for (const c of cases) {
    const got = renewalDelay(c.m, c.now, { allowedAt: c.allowedAt ?? c.now, ...(c.lastOrderAt !== undefined ? { lastOrderAt: c.lastOrderAt } : {}), ...(c.minDelayMs !== undefined ? { minDelayMs: c.minDelayMs } : {}) });
    assert.equal(got, c.want, c.name);
  }
});

/** A store whose `jumpOnSave`-th save moves the clock on first, as an NTP step (or CPU starvation under a stepped test clock) would mid-issuance. */
class JumpingStore extends CertificateStore {
  saves = 0;
  jumpOnSave = 0;
  jumpMs = 0;
  clock: StepClock | undefined;
  override save(...args: Parameters<CertificateStore['save']>): ReturnType<CertificateStore['save']> {
    if (++this.saves === this.jumpOnSave) this.clock?.jump(this.jumpMs);
    return super.save(...args);
  }
}

// The cause of the flaky "a renewal timer that fires a little early still renews" under CPU load:
// the test's next clock step landed while the renewal was being stored, after obtainedAt was
// stamped, and the new certificate arrived already due and was ordered again at once.
test('a clock that jumps forward while a renewal is stored does not order again at once, only after the minimum interval', async () => {
  const tmp = await tempStorage();
  const clock = new StepClock(Date.now());
  const store = new JumpingStore(tmp.storage);
  const mgr = new CertificateManager({ storage: tmp.storage, store, log: silentLogger(), clock });
  try {
    // Seven-day leaves, dated by the real clock: due at about 4.67 days.
    const issuer = new CountingIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }));
    mgr.manage(new Map([['jump.localhost', { issuer, keyType: 'p256' }]]));
    assert.ok(await mgr.secureContextFor('jump.localhost'));
    const first = mgr.certificates()[0]?.meta.serialHex;
    store.clock = clock;
    store.jumpOnSave = store.saves + 1;
    store.jumpMs = 1.3 * DAY;
    clock.advance(5 * DAY);
    assert.ok(await eventually(() => mgr.certificates()[0]?.meta.serialHex !== first), 'renewed');
    await delay(300);
    assert.equal(issuer.calls, 2, 'no order straight after the renewal that arrived due');
    const second = mgr.certificates()[0]?.meta.serialHex;
    clock.advance(MIN + 1_000);
    assert.ok(await eventually(() => issuer.calls === 3), `renewed again after the minimum interval: ${issuer.calls} calls`);
    assert.ok(await eventually(() => mgr.certificates()[0]?.meta.serialHex !== second), 'and loaded');
  } finally {
    await mgr.close();
    await tmp.remove();
  }
});

test('on-demand failures: a refusal is cached 10 s, an issuance failure backs off, a Retry-After or hold is believed, parks are lifted', () => {
  let now = T0;
  const clock: Clock = { now: () => now, setTimer: () => undefined, clearTimer: () => undefined };
  const failures = new OnDemandFailures(clock, (n) => 1_000 * 2 ** n);

  failures.record('refused.test', new MyServerError('MS_ERR_POLICY', 'ask said no'), undefined);
  assert.equal(failures.get('refused.test')?.until, T0 + 10_000);
  assert.equal(failures.refuses(failures.get('refused.test')), true);

  failures.record('down.test', new Error('the CA is down'), undefined);
  failures.record('down.test', new Error('the CA is down'), failures.get('down.test'));
  assert.deepEqual(failures.get('down.test'), { until: T0 + 2_000, failures: 2 });

  failures.record('slow.test', new AcmeProblem({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'slow down', status: 429, retryAfter: HOUR }), undefined);
  assert.equal(failures.get('slow.test')?.until, T0 + HOUR);

  const park = new IssuanceRefused('parked', [{ scope: 'names', subjects: ['caa.test'], until: T0 + DAY, parked: true, problem: { type: 'urn:ietf:params:acme:error:caa', detail: 'CAA forbids' } }]);
  failures.record('caa.test', park, undefined);
  assert.deepEqual(failures.get('caa.test'), { until: T0 + DAY, failures: 1, parked: true });

  now = T0 + 10_000;
  assert.equal(failures.refuses(failures.get('refused.test')), false, 'refused until, not at, its end');
  assert.equal(failures.refuses(failures.get('slow.test')), true);
  failures.liftParks();
  assert.equal(failures.get('caa.test'), undefined, 'a reload lifts the park');
  assert.ok(failures.get('slow.test'), 'the CA\'s wait stays');
  failures.delete('slow.test');
  assert.equal(failures.refuses(failures.get('slow.test')), false);
});

test('clock skew is described in the largest unit that fits twice', () => {
  const cases: [number, string][] = [
    [90_000, '2 minutes'],
    [-119 * MIN, '119 minutes'],
    [2 * HOUR, '2.0 hours'],
    [-47 * HOUR, '47.0 hours'],
    [80 * DAY, '80.0 days'],
  ];
  for (const [ms, want] of cases) assert.equal(describeSkew(ms), want, String(ms));
});
