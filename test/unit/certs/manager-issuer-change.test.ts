/**
 * A reload that gives a managed name another issuer (issue 14: Let's Encrypt staging, then
 * production): the new issuer's certificate is loaded from storage or obtained, the old one serving
 * until then; back to the first issuer, its stored certificate serves again without an order.
 * Two real local CAs, each in its own storage (so each has its own root), stand for two CAs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import type { IssueRequest, Issued, Issuer } from '../../../src/certs/issuer.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager, type NamePolicy } from '../../../src/certs/manager.ts';
import { silentLogger } from '../../../src/log.ts';
import { tempStorage, type TempStorage } from './helpers.ts';
import { handshake, sniServer, type SniServer } from './tls-client.ts';

/**
 * A local CA whose certificates are stored under `storageKey` (as an ACME directory's are under its
 * host and path) and whose issue() waits for open() when gated, so a test sees the time in between.
 */
class OtherCa implements Issuer {
  readonly id: string;
  readonly storageKey: string;
  calls = 0;
  readonly #inner: LocalIssuer;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  constructor(storageKey: string, inner: LocalIssuer) {
    this.id = `https://${storageKey}.test/directory`;
    this.storageKey = storageKey;
    this.#inner = inner;
  }

  gate(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  open(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  async issue(request: IssueRequest): Promise<Issued> {
    this.calls++;
    await this.#gate;
    return this.#inner.issue(request);
  }

  rootPem(): Promise<string> {
    return this.#inner.rootPem();
  }
}

interface Setup {
  readonly a: OtherCa;
  readonly b: OtherCa;
  readonly mgr: CertificateManager;
  /** The storage `mgr` keeps its certificates in. */
  readonly storage: TempStorage['storage'];
  readonly server: SniServer;
  /** Which CA's root verifies the certificate served for `name` now ('a', 'b', or undefined). */
  servedBy(name: string): Promise<'a' | 'b' | undefined>;
  done(): Promise<void>;
}

async function setup(extra: { covers?: (name: string) => NamePolicy | undefined } = {}): Promise<Setup> {
  const tmps: TempStorage[] = [await tempStorage(), await tempStorage(), await tempStorage()];
  const [main, ca1, ca2] = tmps as [TempStorage, TempStorage, TempStorage];
  const a = new OtherCa('ca-a', new LocalIssuer({ storage: ca1.storage, log: silentLogger() }));
  // A shorter lifetime than a's: b's certificates end before a's issued earlier (see the follower test).
  const b = new OtherCa('ca-b', new LocalIssuer({ storage: ca2.storage, log: silentLogger(), lifetimeMs: 2 * 3600_000 }));
  const covers = extra.covers;
  const mgr = new CertificateManager({
    storage: main.storage,
    store: new CertificateStore(main.storage),
    log: silentLogger(),
    ...(covers ? { onDemand: { covers, authorize: async () => undefined } } : {}),
  });
  const server = await sniServer((sn) => mgr.secureContextFor(sn));
  const roots = { a: await a.rootPem(), b: await b.rootPem() };
  return {
    a,
    b,
    mgr,
    storage: main.storage,
    server,
    servedBy: async (name) => {
      for (const which of ['a', 'b'] as const) if ((await handshake(server.port, name, roots[which])).authorized) return which;
      return undefined;
    },
    done: async () => {
      await server.close();
      await mgr.close();
      await Promise.all(tmps.map((t) => t.remove()));
    },
  };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a reload that changes the issuer serves the old certificate until the new issuer\'s is obtained, then the new one; back again comes from storage without an order', async () => {
  const s = await setup();
  try {
    const name = 'site.example';
    s.mgr.manage(new Map([[name, { issuer: s.a, keyType: 'p256' }]]));
    assert.ok(await s.mgr.secureContextFor(name));
    assert.equal(await s.servedBy(name), 'a');

    s.b.gate();
    s.mgr.manage(new Map([[name, { issuer: s.b, keyType: 'p256' }]]));
    await until('the order at the new issuer', () => s.b.calls === 1);
    // The new issuer is ordering: the old certificate keeps serving, never nothing.
    for (let i = 0; i < 3; i++) assert.equal(await s.servedBy(name), 'a');
    s.b.open();
    await until('the new issuer\'s certificate served', async () => (await s.servedBy(name)) === 'b');
    assert.match(s.mgr.certificates()[0]?.keys.cert ?? '', /^certificates\/ca-b\//);

    // Back to the first issuer: its certificate is still valid in storage and serves, no order.
    s.mgr.manage(new Map([[name, { issuer: s.a, keyType: 'p256' }]]));
    await until('the first issuer\'s certificate served again', async () => (await s.servedBy(name)) === 'a');
    assert.equal(s.a.calls, 1, 'no second order at the first issuer');
    assert.equal(s.b.calls, 1);
    // And the same issuer again is no change at all.
    s.mgr.manage(new Map([[name, { issuer: s.a, keyType: 'p256' }]]));
    assert.equal(await s.servedBy(name), 'a');
    assert.equal(s.a.calls, 1);
  } finally {
    await s.done();
  }
});

test('a reload that changes the issuer while the old issuer\'s order is in flight ends with the new issuer\'s certificate', async () => {
  const s = await setup();
  try {
    const name = 'inflight.example';
    s.a.gate();
    s.mgr.manage(new Map([[name, { issuer: s.a, keyType: 'p256' }]]));
    await until('the order at the first issuer', () => s.a.calls === 1);
    s.mgr.manage(new Map([[name, { issuer: s.b, keyType: 'p256' }]]));
    s.a.open();
    await until('the new issuer\'s certificate served', async () => (await s.servedBy(name)) === 'b');
    assert.equal(s.b.calls, 1);
  } finally {
    await s.done();
  }
});

test('cached on-demand certificates whose covering site now names another issuer are looked up under it at the next handshake', async () => {
  let policy: NamePolicy | undefined;
  const s = await setup({ covers: (name) => (name.endsWith('.od.example') ? policy : undefined) });
  try {
    policy = { issuer: s.a, keyType: 'p256' };
    assert.equal(await s.servedBy('x.od.example'), 'a');
    assert.equal(s.a.calls, 1);

    // Same issuer: the cached certificate stays.
    s.mgr.manage(new Map(), (name) => (name.endsWith('.od.example') ? policy : undefined));
    assert.equal(await s.servedBy('x.od.example'), 'a');
    assert.equal(s.a.calls, 1);

    policy = { issuer: s.b, keyType: 'p256' };
    s.mgr.manage(new Map(), (name) => (name.endsWith('.od.example') ? policy : undefined));
    assert.equal(await s.servedBy('x.od.example'), 'b');
    assert.equal(s.b.calls, 1);

    // Back: the first issuer's certificate comes from storage.
    policy = { issuer: s.a, keyType: 'p256' };
    s.mgr.manage(new Map(), (name) => (name.endsWith('.od.example') ? policy : undefined));
    assert.equal(await s.servedBy('x.od.example'), 'a');
    assert.equal(s.a.calls, 1);
  } finally {
    await s.done();
  }
});

test('a follower (no maintenance) switched to another issuer keeps serving the old certificate and takes the new issuer\'s once the leader stored it', async () => {
  const s = await setup();
  try {
    const name = 'follower.example';
    s.mgr.manage(new Map([[name, { issuer: s.a, keyType: 'p256' }]]));
    assert.equal(await s.servedBy(name), 'a');
    s.mgr.setMaintenance(false);
    s.mgr.manage(new Map([[name, { issuer: s.b, keyType: 'p256' }]]));
    // Nothing in storage for the new issuer yet: the follower orders nothing and serves the old one.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(s.b.calls, 0);
    assert.equal(await s.servedBy(name), 'a');
    // The leader (another manager on the same storage) obtains it; its push reaches the follower,
    // which takes it although it ends before the one it holds: that one is another issuer's.
    const leader = new CertificateManager({ storage: s.storage, store: new CertificateStore(s.storage), log: silentLogger() });
    try {
      leader.manage(new Map([[name, { issuer: s.b, keyType: 'p256' }]]));
      await until('the leader\'s certificate', () => leader.certificates().length === 1);
    } finally {
      await leader.close();
    }
    s.mgr.reloadNames([name]);
    await until('the new issuer\'s certificate served by the follower', async () => (await s.servedBy(name)) === 'b');
    assert.equal(s.b.calls, 1);
  } finally {
    await s.done();
  }
});
