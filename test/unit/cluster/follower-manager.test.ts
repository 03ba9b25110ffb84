/**
 * The certificate manager as a follower worker runs it (`workers N`): no issuance or renewal of
 * configured names, certificates another process stored loaded when pushed (reloadNames), and
 * renewals again once it leads (setMaintenance(true)). Real FileStorage and local CA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager } from '../../../src/certs/manager.ts';
import { renewalTime } from '../../../src/certs/meta.ts';
import { obtainCertificate } from '../../../src/certs/obtain.ts';
import { silentLogger } from '../../../src/log.ts';
import { CountingIssuer, delay, eventually, tempStorage } from '../certs/helpers.ts';

test('a follower does not issue a configured name; a pushed name is loaded from storage without issuing', async (t) => {
  const tmp = await tempStorage();
  const mgr = new CertificateManager({ storage: tmp.storage, store: new CertificateStore(tmp.storage), log: silentLogger() });
  t.after(async () => {
    await mgr.close();
    await tmp.remove();
  });
  const issuer = new CountingIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }));
  mgr.setMaintenance(false);
  mgr.manage(new Map([['f.localhost', { issuer, keyType: 'p256' }]]));
  await delay(300);
  assert.equal(issuer.calls, 0, 'the follower made no order');
  assert.deepEqual(mgr.certificates(), []);

  // The leader, another process over the same folder, obtains it; the push names it.
  const other = tmp.other();
  const stored = await obtainCertificate(['f.localhost'], { storage: other, store: new CertificateStore(other), issuer: new LocalIssuer({ storage: other, log: silentLogger() }), keyType: 'p256', log: silentLogger() });
  mgr.reloadNames(['other.localhost']);
  await delay(100);
  assert.deepEqual(mgr.certificates(), [], 'a push for another name loads nothing');
  mgr.reloadNames(['f.localhost']);
  assert.ok(await eventually(() => mgr.certificates()[0]?.meta.serialHex === stored.meta.serialHex, 3_000), 'loaded on the push');
  assert.ok(mgr.loadedContextFor('f.localhost'));
  assert.equal(issuer.calls, 0);
});

test('a follower leaves a due renewal to the leader, and renews once it leads', async (t) => {
  const tmp = await tempStorage();
  const mgr = new CertificateManager({ storage: tmp.storage, store: new CertificateStore(tmp.storage), log: silentLogger() });
  t.after(async () => {
    await mgr.close();
    await tmp.remove();
  });
  // A 3 s lifetime: due for renewal within a second or two of its issue.
  const short = new LocalIssuer({ storage: tmp.storage, log: silentLogger(), lifetimeMs: 3_000 });
  const seeded = await obtainCertificate(['d.localhost'], { storage: tmp.storage, store: new CertificateStore(tmp.storage), issuer: short, keyType: 'p256', log: silentLogger() });
  const issuer = new CountingIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }));
  mgr.setMaintenance(false);
  mgr.manage(new Map([['d.localhost', { issuer, keyType: 'p256' }]]));
  assert.ok(await eventually(() => mgr.certificates()[0]?.meta.serialHex === seeded.meta.serialHex, 3_000), 'the stored certificate is served');
  // Past its renewal time, with room for a timer that would have fired.
  await delay(Math.max(0, renewalTime(seeded.meta).getTime() - Date.now()) + 700);
  assert.equal(issuer.calls, 0, 'due, but the follower did not renew');
  mgr.setMaintenance(true);
  assert.ok(await eventually(() => issuer.calls === 1, 5_000), 'renewed once it leads');
  assert.ok(await eventually(() => mgr.certificates()[0]?.meta.serialHex !== seeded.meta.serialHex, 3_000));
});
