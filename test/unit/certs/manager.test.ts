import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import { issueLockName } from '../../../src/certs/keys.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager, type CertificateManagerOptions, type NamePolicy } from '../../../src/certs/manager.ts';
import { obtainCertificate } from '../../../src/certs/obtain.ts';
import { OnDemandPolicy } from '../../../src/certs/on-demand.ts';
import { silentLogger } from '../../../src/log.ts';
import { CountingIssuer, tempStorage, type TempStorage } from './helpers.ts';
import { handshake, sniServer } from './tls-client.ts';

interface Setup {
  readonly tmp: TempStorage;
  readonly local: LocalIssuer;
  readonly issuer: CountingIssuer;
  readonly policy: NamePolicy;
  manager(extra?: Partial<CertificateManagerOptions>): CertificateManager;
  done(): Promise<void>;
}

async function setup(): Promise<Setup> {
  const tmp = await tempStorage();
  const local = new LocalIssuer({ storage: tmp.storage, log: silentLogger() });
  const issuer = new CountingIssuer(local);
  const managers: CertificateManager[] = [];
  return {
    tmp,
    local,
    issuer,
    policy: { issuer, keyType: 'p256' },
    manager: (extra = {}) => {
      const m = new CertificateManager({ storage: tmp.storage, store: new CertificateStore(tmp.storage), log: silentLogger(), ...extra });
      managers.push(m);
      return m;
    },
    done: async () => {
      await Promise.all(managers.map((m) => m.close()));
      await tmp.remove();
    },
  };
}

interface AskServer {
  readonly url: string;
  readonly seen: string[];
  close(): Promise<void>;
}

async function askServer(status: number): Promise<AskServer> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(new URL(req.url ?? '/', 'http://h').searchParams.get('domain') ?? '');
    res.statusCode = status;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ask`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const onDemandUnder = (suffix: string, policy: NamePolicy) => (name: string): NamePolicy | undefined => (name.endsWith(suffix) ? policy : undefined);

test('a managed name gets a context for any spelling of it, usable in a real TLS handshake', async () => {
  const s = await setup();
  const mgr = s.manager();
  const server = await sniServer((sn) => mgr.secureContextFor(sn));
  try {
    mgr.manage(new Map([['a.localhost', s.policy]]));
    const ctx = await mgr.secureContextFor('A.LOCALHOST.');
    assert.ok(ctx);
    assert.equal(await mgr.secureContextFor('a.localhost'), ctx);
    const root = await s.local.rootPem();
    for (const servername of ['a.localhost', 'A.LocalHost', 'A.LOCALHOST.']) {
      const h = await handshake(server.port, servername, root);
      assert.equal(h.authorized, true, h.authorizationError);
      assert.match(h.subjectAltName, /DNS:a\.localhost/);
    }
    assert.equal(s.issuer.calls, 1, 'the background start and the first lookup share one issuance');
    assert.deepEqual(mgr.certificates().map((c) => c.meta.names), [['a.localhost']]);
  } finally {
    await server.close();
    await s.done();
  }
});

test('a managed name whose certificate is already in storage is served without issuing', async () => {
  const s = await setup();
  try {
    const stored = await obtainCertificate(['a.localhost'], { storage: s.tmp.storage, store: new CertificateStore(s.tmp.storage), issuer: s.issuer, keyType: 'p256', log: silentLogger() });
    const mgr = s.manager();
    mgr.manage(new Map([['a.localhost', s.policy]]));
    assert.ok(await mgr.secureContextFor('a.localhost'));
    assert.equal(s.issuer.calls, 1);
    assert.equal(mgr.certificates()[0]?.meta.serialHex, stored.meta.serialHex);
  } finally {
    await s.done();
  }
});

test('an unmanaged name without on-demand gets no context and causes no issuance', async () => {
  const s = await setup();
  try {
    const mgr = s.manager();
    mgr.manage(new Map([['a.localhost', s.policy]]));
    await mgr.secureContextFor('a.localhost');
    for (const n of ['b.localhost', 'x.a.localhost', 'a..localhost', '', '-a.localhost']) {
      assert.equal(await mgr.secureContextFor(n), undefined, n);
    }
    assert.equal(s.issuer.calls, 1);
  } finally {
    await s.done();
  }
});

test('on-demand: 20 concurrent handshakes for a new name cause one ask and one issuance', async () => {
  const s = await setup();
  const ask = await askServer(200);
  try {
    const mgr = s.manager({ onDemand: { authorize: authorizer(new OnDemandPolicy({ ask: ask.url })), covers: onDemandUnder('.od.localhost', s.policy) } });
    const contexts = await Promise.all(Array.from({ length: 20 }, () => mgr.secureContextFor('x.od.localhost')));
    assert.ok(contexts[0]);
    assert.ok(contexts.every((c) => c === contexts[0]));
    assert.equal(s.issuer.calls, 1);
    assert.deepEqual(ask.seen, ['x.od.localhost']);
    // Cached afterwards: no new ask, no new issuance.
    assert.equal(await mgr.secureContextFor('X.OD.LOCALHOST'), contexts[0]);
    assert.equal(s.issuer.calls, 1);
    assert.equal(ask.seen.length, 1);
  } finally {
    await ask.close();
    await s.done();
  }
});

test('on-demand: a certificate already in storage is served without asking or issuing', async () => {
  const s = await setup();
  const ask = await askServer(200);
  try {
    await obtainCertificate(['y.od.localhost'], { storage: s.tmp.storage, store: new CertificateStore(s.tmp.storage), issuer: s.local, keyType: 'p256', log: silentLogger() });
    const mgr = s.manager({ onDemand: { authorize: authorizer(new OnDemandPolicy({ ask: ask.url })), covers: onDemandUnder('.od.localhost', s.policy) } });
    assert.ok(await mgr.secureContextFor('y.od.localhost'));
    assert.equal(s.issuer.calls, 0);
    assert.deepEqual(ask.seen, []);
  } finally {
    await ask.close();
    await s.done();
  }
});

test('on-demand: a name the policy refuses gets no context and causes no issuance; uncovered names are not even asked about', async () => {
  const s = await setup();
  const ask = await askServer(403);
  try {
    const mgr = s.manager({ onDemand: { authorize: authorizer(new OnDemandPolicy({ ask: ask.url })), covers: onDemandUnder('.od.localhost', s.policy) } });
    assert.equal(await mgr.secureContextFor('no.od.localhost'), undefined);
    assert.equal(await mgr.secureContextFor('elsewhere.localhost'), undefined);
    assert.equal(s.issuer.calls, 0);
    assert.deepEqual(ask.seen, ['no.od.localhost']);
  } finally {
    await ask.close();
    await s.done();
  }
});

test('a managed wildcard serves names one label below it, not two, nor its parent', async () => {
  const s = await setup();
  const mgr = s.manager();
  const server = await sniServer((sn) => mgr.secureContextFor(sn));
  try {
    mgr.manage(new Map([['*.w.localhost', s.policy]]));
    const ctx = await mgr.secureContextFor('a.w.localhost');
    assert.ok(ctx);
    assert.equal(await mgr.secureContextFor('B.W.LOCALHOST.'), ctx);
    assert.equal(await mgr.secureContextFor('a.b.w.localhost'), undefined);
    assert.equal(await mgr.secureContextFor('w.localhost'), undefined);
    const h = await handshake(server.port, 'a.w.localhost', await s.local.rootPem());
    assert.equal(h.authorized, true, h.authorizationError);
    assert.match(h.subjectAltName, /DNS:\*\.w\.localhost/);
    await assert.rejects(handshake(server.port, 'a.b.w.localhost', await s.local.rootPem()));
    assert.equal(s.issuer.calls, 1);
  } finally {
    await server.close();
    await s.done();
  }
});

test('an exact managed name wins over a managed wildcard covering it', async () => {
  const s = await setup();
  try {
    const mgr = s.manager();
    mgr.manage(new Map([['*.w.localhost', s.policy], ['a.w.localhost', s.policy]]));
    const exact = await mgr.secureContextFor('a.w.localhost');
    const wild = await mgr.secureContextFor('b.w.localhost');
    assert.ok(exact && wild);
    assert.notEqual(exact, wild);
  } finally {
    await s.done();
  }
});

test('a handshake gives up after handshakeWaitMs while the issuance goes on', async () => {
  const s = await setup();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const slow: NamePolicy = {
    keyType: 'p256',
    issuer: {
      id: 'local',
      storageKey: 'local',
      issue: async (req) => {
        await gate;
        return s.local.issue(req);
      },
    },
  };
  try {
    const mgr = s.manager({ handshakeWaitMs: 100 });
    mgr.manage(new Map([['slow.localhost', slow]]));
    const started = Date.now();
    assert.equal(await mgr.secureContextFor('slow.localhost'), undefined);
    assert.ok(Date.now() - started < 2_000);
    release();
    // The issuance it gave up on still completes and is served to the next handshake.
    let ctx;
    for (let i = 0; i < 200 && !ctx; i++) {
      ctx = mgr.loadedContextFor('slow.localhost');
      if (!ctx) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(ctx);
    assert.equal(await mgr.secureContextFor('slow.localhost'), ctx);
  } finally {
    release();
    await s.done();
  }
});

function authorizer(policy: OnDemandPolicy): (name: string) => Promise<void> {
  return (name) => policy.authorize(name);
}

test('close() during an issuance aborts it through its signal and returns once it has settled', async () => {
  const s = await setup();
  let started!: (signal: AbortSignal | undefined) => void;
  const issuing = new Promise<AbortSignal | undefined>((resolve) => (started = resolve));
  let settled = false;
  // A CA that never answers: only the signal ends the issuance, as it ends a real order's polling.
  const hanging: NamePolicy = {
    keyType: 'p256',
    issuer: {
      id: 'hanging',
      storageKey: 'hanging',
      issue: (req) => {
        started(req.signal);
        return new Promise((_resolve, reject) => {
          const abort = (): void => {
            settled = true;
            reject(req.signal?.reason as Error);
          };
          if (req.signal?.aborted === true) abort();
          else req.signal?.addEventListener('abort', abort, { once: true });
        });
      },
    },
  };
  try {
    const mgr = s.manager();
    mgr.manage(new Map([['hang.localhost', hanging]]));
    const signal = await issuing;
    assert.ok(signal, 'the issuer is given a signal');
    assert.equal(signal.aborted, false);
    const t0 = performance.now();
    await mgr.close();
    assert.ok(performance.now() - t0 < 2_000, `close() took ${Math.round(performance.now() - t0)} ms`);
    assert.equal(signal.aborted, true, 'the issuance was aborted');
    assert.equal(settled, true, 'close() waited for the issuance to settle');
    assert.equal(mgr.loadedContextFor('hang.localhost'), undefined);
    // The issue lock was released on the way out: another process could issue at once.
    await s.tmp.storage.lock(issueLockName('hang.localhost'), { timeoutMs: 1_000 });
    await s.tmp.storage.unlock(issueLockName('hang.localhost'));
  } finally {
    await s.done();
  }
});
