/**
 * The certificate manager finds a managed wildcard by the same rule as the site table
 * (util/host.ts wildcardOf: one leftmost label). It used to require two dots in the name, so a
 * `*.localhost` site was routed for app.localhost but its handshake found no certificate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager } from '../../../src/certs/manager.ts';
import { silentLogger } from '../../../src/log.ts';
import { CountingIssuer, tempStorage } from './helpers.ts';

test('a managed *.localhost serves app.localhost, a name with one dot, and not localhost or a.b.localhost', async () => {
  const tmp = await tempStorage();
  const local = new LocalIssuer({ storage: tmp.storage, log: silentLogger() });
  const issuer = new CountingIssuer(local);
  const manager = new CertificateManager({ storage: tmp.storage, store: new CertificateStore(tmp.storage), log: silentLogger() });
  try {
    manager.manage(new Map([['*.localhost', { issuer, keyType: 'p256' }]]));
    const ctx = await manager.secureContextFor('app.localhost');
    assert.ok(ctx, 'app.localhost gets the *.localhost certificate');
    assert.equal(await manager.secureContextFor('localhost'), undefined);
    assert.equal(await manager.secureContextFor('a.b.localhost'), undefined);
    // The context is the wildcard's: one issuance, for *.localhost. (No TLS client check here:
    // Node's checkServerIdentity, like browsers, refuses wildcards over a single label.)
    assert.deepEqual(issuer.requests.map((r) => r.names), [['*.localhost']]);
  } finally {
    // close() may become async (issue 8): awaiting its result works either way.
    await Promise.resolve(manager.close());
    await tmp.remove();
  }
});
