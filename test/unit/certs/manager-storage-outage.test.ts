/**
 * The certificate manager while its storage is unavailable (src/storage/availability.ts): an
 * issuance whose lock cannot be taken issues nothing, leaves no on-demand backoff behind (the next
 * handshake tries again, and succeeds once storage is back), and a managed name that failed for
 * want of storage is retried as soon as the storage says it is up, not at the end of its backoff.
 * The storage is a real FileStorage whose lock() the test turns into an outage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager } from '../../../src/certs/manager.ts';
import { silentLogger } from '../../../src/log.ts';
import { StorageUnavailableError, type StorageState } from '../../../src/storage/availability.ts';
import { DelegatingStorage } from '../../helpers/delegating-storage.ts';
import { CountingIssuer, eventually, tempStorage } from './helpers.ts';

class OutageStorage extends DelegatingStorage {
  down = false;
  lockAttempts = 0;
  readonly #listeners = new Set<(s: StorageState) => void>();
  #state: StorageState = { kind: 'redis', state: 'up', since: new Date() };

  override lock(name: string, options?: { signal?: AbortSignal | undefined; timeoutMs?: number }): Promise<void> {
    this.lockAttempts++;
    if (this.down) return Promise.reject(new StorageUnavailableError(`taking lock "${name}" in ${this.toString()}: storage unavailable`));
    return super.lock(name, options);
  }

  state(): StorageState {
    return this.#state;
  }

  onStateChange(listener: (s: StorageState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(state: 'up' | 'down'): void {
    this.down = state === 'down';
    this.#state = { kind: 'redis', state, since: new Date() };
    for (const l of [...this.#listeners]) l(this.#state);
  }
}

async function setup() {
  const tmp = await tempStorage();
  const storage = new OutageStorage(tmp.storage);
  const issuer = new CountingIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }));
  return { tmp, storage, issuer, policy: { issuer, keyType: 'p256' as const } };
}

test('on-demand: no lock, no issuance and no backoff; the first handshake after storage is back obtains', async () => {
  const { tmp, storage, issuer, policy } = await setup();
  const manager = new CertificateManager({
    storage,
    store: new CertificateStore(storage),
    log: silentLogger(),
    onDemand: { covers: (n) => (n.endsWith('.od.test') ? policy : undefined), authorize: () => Promise.resolve() },
  });
  try {
    storage.set('down');
    assert.equal(await manager.secureContextFor('a.od.test'), undefined);
    assert.equal(await manager.secureContextFor('a.od.test'), undefined);
    // Each handshake reached the lock: no backoff was recorded for an outage.
    assert.equal(storage.lockAttempts, 2);
    assert.equal(issuer.calls, 0, 'issued without the lock');

    storage.set('up');
    assert.ok(await manager.secureContextFor('a.od.test'));
    assert.equal(issuer.calls, 1);
  } finally {
    await manager.close();
    await tmp.remove();
  }
});

test('a managed name that failed for want of storage is obtained when storage is back, not after its backoff', async () => {
  const { tmp, storage, issuer, policy } = await setup();
  // A minute's backoff: without the resume, nothing would happen within the test's wait.
  const manager = new CertificateManager({ storage, store: new CertificateStore(storage), log: silentLogger(), retryBaseMs: 60_000 });
  try {
    storage.set('down');
    manager.manage(new Map([['m.test', policy]]));
    assert.ok(await eventually(() => storage.lockAttempts >= 1), 'the first attempt never ran');
    // Let the failure settle into its backoff.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(issuer.calls, 0);

    storage.set('up');
    assert.ok(await eventually(() => manager.certificates().some((c) => c.meta.names.includes('m.test')), 5_000), 'm.test not obtained after storage came back');
    assert.equal(issuer.calls, 1);
  } finally {
    await manager.close();
    await tmp.remove();
  }
});
