import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import type { IssueRequest, Issued, Issuer } from '../../../src/certs/issuer.ts';
import { knownFromRecord, lifecycleKey, statusOf } from '../../../src/certs/lifecycle.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager } from '../../../src/certs/manager.ts';
import { renewalTime } from '../../../src/certs/meta.ts';
import { MyServerError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { eventually, StepClock, tempStorage } from './helpers.ts';

/** Fails with each of `failures` in turn, then issues from `inner`. */
class FlakyIssuer implements Issuer {
  readonly id = 'https://ca.test/dir';
  readonly storageKey = 'ca.test-dir';
  readonly #inner: Issuer;
  readonly #failures: Error[];
  constructor(inner: Issuer, failures: Error[]) {
    this.#inner = inner;
    this.#failures = failures;
  }
  issue(request: IssueRequest): Promise<Issued> {
    const f = this.#failures.shift();
    return f ? Promise.reject(f) : this.#inner.issue(request);
  }
}

test('lifecycle: failures with their code or problem type and detail, the retry time, kept in storage; a success clears the count and keeps the last error', async () => {
  const tmp = await tempStorage();
  const clock = new StepClock();
  const mgr = new CertificateManager({ storage: tmp.storage, store: new CertificateStore(tmp.storage), log: silentLogger(), clock, retryBaseMs: 60_000, retryMaxMs: 600_000 });
  try {
    const network = new MyServerError('MS_ERR_ACME_NETWORK', 'obtaining certificate', { cause: new MyServerError('MS_ERR_ACME_NETWORK', 'connect ECONNREFUSED 127.0.0.1:9') });
    const problem = new AcmeProblem({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates', status: 429, retryAfter: 3_600_000 });
    const issuer = new FlakyIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }), [network, problem]);
    mgr.manage(new Map([['life.localhost', { issuer, keyType: 'p256' }]]));

    // 1: the CA cannot be reached. No problem type; our own code and description.
    assert.ok(await eventually(() => mgr.lifecycle()[0]?.consecutiveFailures === 1));
    let s = mgr.lifecycle()[0]!;
    assert.equal(s.issuer, 'https://ca.test/dir');
    assert.equal(s.lastError?.type, undefined);
    assert.equal(s.lastError?.code, 'MS_ERR_ACME_NETWORK');
    assert.match(s.lastError?.detail ?? '', /ECONNREFUSED/);
    assert.equal(s.lastError?.at, new Date(clock.now()).toISOString());
    const retry = Date.parse(s.nextAttempt ?? '') - clock.now();
    assert.ok(retry >= 30_000 && retry <= 600_000, `retry in ${retry} ms: the schedule's backoff`);
    assert.equal(s.notAfter, undefined);
    assert.equal(s.lastCheck, s.lastError?.at);
    // Kept in storage, for `certs list` in another process.
    const key = lifecycleKey('ca.test-dir', 'life.localhost');
    assert.ok(await eventually(async () => (await tmp.storage.get(key)) !== undefined));
    const stored = knownFromRecord((await tmp.storage.get(key))!);
    assert.equal(stored?.failures, 1);
    assert.equal(stored?.lastError?.code, 'MS_ERR_ACME_NETWORK');

    // 2: the CA's problem, with its Retry-After, which outlasts the backoff.
    clock.advance(retry);
    assert.ok(await eventually(() => mgr.lifecycle()[0]?.consecutiveFailures === 2));
    s = mgr.lifecycle()[0]!;
    assert.equal(s.lastError?.type, 'urn:ietf:params:acme:error:rateLimited');
    assert.equal(s.lastError?.detail, 'too many certificates');
    assert.equal(Date.parse(s.nextAttempt ?? ''), clock.now() + 3_600_000, "the CA's Retry-After");

    // 3: issued. The count resets; the last error stays as history; the next attempt is the renewal.
    clock.advance(3_600_000);
    assert.ok(await eventually(() => mgr.lifecycle()[0]?.notAfter !== undefined));
    s = mgr.lifecycle()[0]!;
    assert.equal(s.consecutiveFailures, 0);
    assert.equal(s.lastError?.type, 'urn:ietf:params:acme:error:rateLimited');
    const meta = mgr.certificates()[0]!.meta;
    assert.equal(s.renewAt, renewalTime(meta).toISOString());
    assert.equal(s.nextAttempt, s.renewAt);
    assert.equal(s.serial, meta.serialHex);
    assert.deepEqual(s.names, ['life.localhost']);
    assert.ok(await eventually(async () => knownFromRecord((await tmp.storage.get(key))!)?.failures === 0), 'storage says the failures are over');

    // Unconfigured: gone.
    mgr.manage(new Map());
    assert.deepEqual(mgr.lifecycle(), []);
  } finally {
    await mgr.close();
    await tmp.remove();
  }
});

test('statusOf: an ARI window and check time from the metadata; a damaged record is ignored', () => {
  const meta = {
    names: ['a.test'], issuer: 'https://ca.test/dir', issuerName: 'CA', serialHex: '01', keyType: 'p256',
    notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-04-01T00:00:00.000Z', obtainedAt: '2026-01-01T00:00:00.000Z',
    ari: { start: '2026-03-01T00:00:00.000Z', end: '2026-03-03T00:00:00.000Z', renewAt: '2026-03-02T00:00:00.000Z', checkedAt: '2026-01-05T00:00:00.000Z' },
  };
  const s = statusOf('a.test', meta, { ca: 'x', failures: 0, lastAttempt: Date.parse('2026-01-01T00:00:00.000Z') }, Date.parse('2026-01-10T00:00:00.000Z'));
  assert.deepEqual(s.ariWindow, { start: '2026-03-01T00:00:00.000Z', end: '2026-03-03T00:00:00.000Z' });
  assert.equal(s.renewAt, '2026-03-02T00:00:00.000Z');
  assert.equal(s.nextAttempt, '2026-03-02T00:00:00.000Z');
  assert.equal(s.lastCheck, '2026-01-05T00:00:00.000Z', 'the later of the attempt and the ARI check');
  assert.equal(knownFromRecord(Buffer.from('{not json')), undefined);
  assert.equal(knownFromRecord(Buffer.from('{"name":1}')), undefined);
});
