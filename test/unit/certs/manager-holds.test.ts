import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { listHolds } from '../../../src/certs/holds.ts';
import { IssuanceRefused, type IssueRequest, type Issued, type Issuer } from '../../../src/certs/issuer.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager } from '../../../src/certs/manager.ts';
import { silentLogger } from '../../../src/log.ts';
import { delay, eventually, tempStorage } from './helpers.ts';

/** Refuses while `refuse` says so (with the hold it returns), else issues from the local CA. */
class RefusingIssuer implements Issuer {
  readonly id = 'https://ca.test/dir';
  readonly storageKey = 'ca.test-dir';
  calls = 0;
  refuse: ((names: readonly string[]) => IssuanceRefused | undefined) | undefined;
  readonly #local: LocalIssuer;
  constructor(local: LocalIssuer) {
    this.#local = local;
  }
  issue(request: IssueRequest): Promise<Issued> {
    this.calls++;
    const refusal = this.refuse?.(request.names);
    return refusal ? Promise.reject(refusal) : this.#local.issue(request);
  }
}

function refusal(names: readonly string[], ms: number, parked: boolean, type: string): IssuanceRefused {
  const problem = new AcmeProblem({ type: `urn:ietf:params:acme:error:${type}`, detail: `${type} for ${names.join(', ')}`, status: parked ? 400 : 429 });
  return new IssuanceRefused(parked ? 'parked' : 'wait', [{ scope: 'names', subjects: [...names], until: Date.now() + ms, parked, problem }], { cause: problem });
}

test('on-demand: a name the CA asked to wait for is not ordered again before the wait ends, however often handshakes come, and its failure backoff cannot shorten it', async () => {
  const tmp = await tempStorage();
  const issuer = new RefusingIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }));
  const manager = new CertificateManager({
    storage: tmp.storage,
    store: new CertificateStore(tmp.storage),
    log: silentLogger(),
    retryBaseMs: 20,
    retryMaxMs: 40,
    onDemand: { covers: () => ({ issuer, keyType: 'p256' }), authorize: () => Promise.resolve() },
  });
  try {
    let first = true;
    issuer.refuse = (names) => (first ? ((first = false), refusal(names, 1500, false, 'rateLimited')) : undefined);
    assert.equal(await manager.secureContextFor('od.test'), undefined);
    const started = Date.now();
    while (Date.now() - started < 1200) {
      assert.equal(await manager.secureContextFor('od.test'), undefined);
      await delay(20);
    }
    assert.equal(issuer.calls, 1, 'no order during the wait');
    assert.ok(await eventually(async () => (await manager.secureContextFor('od.test')) !== undefined, 5000));
    assert.equal(issuer.calls, 2);
  } finally {
    await manager.close();
    await tmp.remove();
  }
});

test('a parked managed name gets no more orders; a reload (manage again) lifts the park and orders at once', async () => {
  const tmp = await tempStorage();
  const issuer = new RefusingIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }));
  const manager = new CertificateManager({ storage: tmp.storage, store: new CertificateStore(tmp.storage), log: silentLogger(), retryBaseMs: 20, retryMaxMs: 40 });
  try {
    issuer.refuse = (names) => refusal(names, 3600_000, true, 'caa');
    const names = new Map([['parked.test', { issuer, keyType: 'p256' as const }]]);
    manager.manage(names);
    assert.ok(await eventually(() => issuer.calls === 1, 5000));
    await delay(500);
    assert.equal(issuer.calls, 1, 'parked: not retried with the 20-40 ms backoff');
    assert.equal(await manager.secureContextFor('parked.test'), undefined);
    assert.equal((await listHolds(tmp.storage))[0]?.parked, true);

    issuer.refuse = undefined;
    manager.manage(names);
    assert.ok(await eventually(async () => (await manager.secureContextFor('parked.test')) !== undefined, 5000));
    assert.equal(issuer.calls, 2);
    assert.deepEqual(await listHolds(tmp.storage), []);
  } finally {
    await manager.close();
    await tmp.remove();
  }
});
