/**
 * How my-server reacts to the CA's errors (issue 7, failures 2, 3 and the permanent part of 8),
 * against a real Pebble: restarted mid-test so it forgets the account, and behind a fault proxy
 * (test/helpers/fault-proxy.ts) that answers chosen requests with rate limits and refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AcmeClient } from '../../src/acme/client.ts';
import { isProblem } from '../../src/acme/problem.ts';
import { loadOrCreateAccount } from '../../src/certs/account.ts';
import { AcmeIssuer } from '../../src/certs/acme-issuer.ts';
import { CertificateStore } from '../../src/certs/certificate-store.ts';
import { listHolds } from '../../src/certs/holds.ts';
import { findRefusal } from '../../src/certs/issuer.ts';
import { CertificateManager } from '../../src/certs/manager.ts';
import { obtainCertificate } from '../../src/certs/obtain.ts';
import { ChallengeServers } from '../../src/challenges/challenge-servers.ts';
import { ChallengeStore } from '../../src/challenges/challenge-store.ts';
import { Http01Solver } from '../../src/challenges/http-01.ts';
import { TlsAlpn01Solver } from '../../src/challenges/tls-alpn-01.ts';
import type { Solver } from '../../src/challenges/solver.ts';
import type { Logger } from '../../src/log.ts';
import { FileStorage } from '../../src/storage/file-storage.ts';
import { problem, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { runCli, tempProxyfile } from '../helpers/cli.ts';

interface Env {
  readonly pebble: Pebble;
  readonly proxy: FaultProxy;
  readonly dir: string;
  readonly storage: FileStorage;
  readonly store: CertificateStore;
  readonly issuer: AcmeIssuer;
  readonly log: Logger;
  /** Every log line, parsed. */
  readonly lines: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Pebble, the fault proxy in front of it, challenge listeners, storage and the ACME issuer, as the app wires them. */
async function env(): Promise<Env> {
  const [httpPort, httpsPort] = await freePorts(2);
  // No badNonce rejections: their retries would make the request counts below vary.
  const pebble = await startPebble({ httpPort: httpPort!, tlsPort: httpsPort!, nonceReject: 0 });
  const proxy = await startFaultProxy(pebble);
  const dir = await mkdtemp(join(tmpdir(), 'my-server-ca-faults-'));
  const storage = new FileStorage(join(dir, 'data'));
  const challengeStore = new ChallengeStore({ storage });
  const http01 = new Http01Solver({ store: challengeStore });
  const tlsAlpn01 = new TlsAlpn01Solver({ store: challengeStore });
  const servers = await ChallengeServers.listen({ http01, tlsAlpn01, httpPort: httpPort!, httpsPort: httpsPort!, host: '127.0.0.1' });
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  // As app.ts does: one account client per CA, created on first use, a failed setup not cached.
  let account: Promise<AcmeClient> | undefined;
  const client = (): Promise<AcmeClient> => {
    if (!account) {
      const p = loadOrCreateAccount({ directoryUrl: proxy.directoryUrl, caRoots: pebble.caPem, storage, log, email: 'ops@example.test' });
      account = p;
      p.catch(() => (account = undefined));
    }
    return account;
  };
  const solvers = new Map<string, Solver>([
    ['tls-alpn-01', tlsAlpn01],
    ['http-01', http01],
  ]);
  const issuer = new AcmeIssuer({ client, directoryUrl: proxy.directoryUrl, solvers, log });
  return {
    pebble,
    proxy,
    dir,
    storage,
    store: new CertificateStore(storage),
    issuer,
    log,
    lines,
    close: async () => {
      await servers.close();
      await proxy.close();
      await storage.close();
      await pebble.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function obtain(e: Env, names: string[]): ReturnType<typeof obtainCertificate> {
  return obtainCertificate(names, { storage: e.storage, store: e.store, issuer: e.issuer, keyType: 'p256', log: e.log });
}

function accountsCreated(pebble: Pebble): number {
  return pebble.logs().match(/There are now \d+ accounts in memory/g)?.length ?? 0;
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('after the CA forgets the account (Pebble restarted), the next order registers the same key again and succeeds', async () => {
  const e = await env();
  try {
    await obtain(e, ['before.test']);
    assert.equal(accountsCreated(e.pebble), 1);
    const keyFile = join(e.dir, 'data', 'acme');
    const keyBefore = await findFile(keyFile, 'account.key');
    const keyPemBefore = await readFile(keyBefore, 'utf8');

    await e.pebble.restart();
    // Brand-new names, ordered at once: nothing cached can help, only a working account, and
    // the orders that all hit the lost account register it once.
    const certs = await Promise.all(['after.test', 'after2.test', 'after3.test'].map((n) => obtain(e, [n])));
    assert.deepEqual(certs.map((c) => c.meta.names), [['after.test'], ['after2.test'], ['after3.test']]);
    assert.equal(accountsCreated(e.pebble), 2, 'one new-account request after the restart');
    assert.equal(e.proxy.count('newAccount'), 2);
    assert.equal(await readFile(keyBefore, 'utf8'), keyPemBefore, 'the same account key was registered again');
    const record = JSON.parse(await readFile(await findFile(keyFile, 'account.json'), 'utf8')) as { url: string };
    assert.match(record.url, /my-account/);
    assert.ok(e.lines.some((l) => String(l['msg']).includes('accountDoesNotExist')), 'the CA\'s problem type is logged');

    // And the renewed account keeps working for the next order without another registration.
    await obtain(e, ['later.test']);
    assert.equal(e.proxy.count('newAccount'), 2);
  } finally {
    await e.close();
  }
});

test('revoking after the CA forgot the account registers it again first (the CA then judges the revocation itself)', async () => {
  const e = await env();
  try {
    const cert = await obtain(e, ['revoke.test']);
    await e.pebble.restart();
    // Pebble forgot the certificate too, so it refuses the revocation; what matters is that it
    // is asked by a registered account, not refused as accountDoesNotExist.
    await assert.rejects(e.issuer.revoke(cert.chainPem, {}), (err) => {
      assert.ok(!isProblem(err, 'accountDoesNotExist'), String(err));
      return true;
    });
    assert.equal(e.proxy.count('newAccount'), 2);
    assert.equal(accountsCreated(e.pebble), 2);
  } finally {
    await e.close();
  }
});

test('when the CA refuses the old account key, a new key is registered and the old one kept as a backup', async () => {
  const e = await env();
  try {
    await obtain(e, ['before.test']);
    const accountDir = join(e.dir, 'data', 'acme');
    const keyPath = await findFile(accountDir, 'account.key');
    const oldKey = await readFile(keyPath, 'utf8');
    await e.pebble.restart();
    e.proxy.fail({ match: 'newAccount', times: 1, reply: { status: 400, problem: problem('badPublicKey', 'key is blocked') } });

    await obtain(e, ['after.test']);
    const newKey = await readFile(keyPath, 'utf8');
    assert.notEqual(newKey, oldKey, 'a new key');
    const files = await readdir(join(keyPath, '..'));
    const backup = files.find((f) => f.startsWith('account.key.') && f.endsWith('.bak'));
    assert.ok(backup, `a backup of the old key among ${files.join(', ')}`);
    assert.equal(await readFile(join(keyPath, '..', backup), 'utf8'), oldKey);
    assert.equal(e.proxy.count('newAccount'), 3, 'first account, refused old key, new key');
  } finally {
    await e.close();
  }
});

test('on-demand: a 429 with Retry-After on new-order is obeyed: no order for the name before it, handshakes fail fast, then issuance works', async () => {
  const e = await env();
  const manager = new CertificateManager({
    storage: e.storage,
    store: e.store,
    log: e.log,
    // Today's failure cache backed off only this long: the Retry-After must win over it.
    retryBaseMs: 100,
    retryMaxMs: 200,
    handshakeWaitMs: 20_000,
    onDemand: { covers: () => ({ issuer: e.issuer, keyType: 'p256' }), authorize: () => Promise.resolve() },
  });
  try {
    const retryAfterS = 3;
    e.proxy.fail({
      match: 'newOrder',
      times: 1,
      reply: { status: 429, problem: problem('rateLimited', 'too many new orders for this exact set of identifiers'), headers: { 'retry-after': String(retryAfterS) } },
    });
    const refusedAt = performance.now();
    assert.equal(await manager.secureContextFor('od.test'), undefined);
    assert.equal(e.proxy.count('newOrder'), 1);
    // Handshakes keep coming while the CA's wait runs: each fails at once, none reaches the CA.
    while (performance.now() - refusedAt < retryAfterS * 1000 - 400) {
      const t0 = performance.now();
      assert.equal(await manager.secureContextFor('od.test'), undefined);
      assert.ok(performance.now() - t0 < 200, 'a handshake during the wait fails fast');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(e.proxy.count('newOrder'), 1, 'no new order before Retry-After');
    await waitFor(async () => (await manager.secureContextFor('od.test')) !== undefined, 20_000, 'the certificate after Retry-After');
    const orders = e.proxy.requests.filter((r) => r.resource === 'newOrder');
    assert.equal(orders.length, 2);
    assert.ok(orders[1]!.at - orders[0]!.at >= retryAfterS * 1000 - 50, `second order ${Math.round(orders[1]!.at - orders[0]!.at)} ms after the first`);
  } finally {
    await manager.close();
    await e.close();
  }
});

test('certs path: a Retry-After in the HTTP-date form on new-order holds the names in storage; an obtain meanwhile asks nothing of the CA', async () => {
  const e = await env();
  try {
    // Whole seconds: an HTTP-date has no finer resolution.
    const until = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000);
    e.proxy.fail({
      match: 'newOrder',
      times: 1,
      reply: { status: 429, problem: problem('rateLimited', 'too many certificates already issued for this exact set of identifiers'), headers: { 'retry-after': until.toUTCString() } },
    });
    await assert.rejects(obtain(e, ['cli.test']), (err) => {
      assert.ok(findRefusal(err), String(err));
      return true;
    });
    const before = e.proxy.requests.length;
    // A second process would read the same storage; a new call here stands for it.
    await assert.rejects(obtain(e, ['cli.test']), (err) => {
      const refusal = findRefusal(err);
      assert.ok(refusal && !refusal.parked, String(err));
      assert.ok(Math.abs(refusal.until - until.getTime()) < 1500, `held until ${new Date(refusal.until).toISOString()}, CA said ${until.toISOString()}`);
      assert.match(String((err as Error).message), /Retry-After/);
      return true;
    });
    assert.equal(e.proxy.requests.length, before, 'no request reached the CA while held');
    // Another name is not covered by this exact-set limit.
    await obtain(e, ['other.test']);
    await waitFor(() => Date.now() > until.getTime(), 6000, 'the Retry-After date');
    await obtain(e, ['cli.test']);
  } finally {
    await e.close();
  }
});

test('a rate limit on new-account holds every order of the account until its Retry-After', async () => {
  const e = await env();
  try {
    e.proxy.fail({
      match: 'newAccount',
      times: 1,
      reply: { status: 429, problem: problem('rateLimited', 'too many new registrations from this IP'), headers: { 'retry-after': '2' } },
    });
    await assert.rejects(obtain(e, ['one.test']), (err) => Boolean(findRefusal(err)));
    const requests = e.proxy.requests.length;
    await assert.rejects(obtain(e, ['two.test']), (err) => {
      const refusal = findRefusal(err);
      assert.equal(refusal?.holds[0]?.scope, 'account', String(err));
      return true;
    });
    assert.equal(e.proxy.requests.length, requests, 'a different name asks nothing of the CA either');
    await new Promise((r) => setTimeout(r, 2100));
    await obtain(e, ['two.test']);
  } finally {
    await e.close();
  }
});

test('a managed name the CA rejects for good (rejectedIdentifier) is parked: one order, the reason in the log and in `certs list`, a new attempt after a reload', async () => {
  const e = await env();
  const manager = new CertificateManager({ storage: e.storage, store: e.store, log: e.log, retryBaseMs: 100, retryMaxMs: 200 });
  try {
    const unblock = e.proxy.fail({
      match: 'newOrder',
      reply: { status: 400, problem: problem('rejectedIdentifier', 'Error creating new order :: Cannot issue for "parked.test": The ACME server refuses to issue for this name') },
    });
    manager.manage(new Map([['parked.test', { issuer: e.issuer, keyType: 'p256' as const }]]));
    await waitFor(() => e.proxy.count('newOrder') >= 1, 20_000, 'the first order');
    // With today's backoff (100-200 ms here) this would be a dozen orders.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(e.proxy.count('newOrder'), 1, 'a parked name is not ordered again');
    assert.equal(await manager.secureContextFor('parked.test'), undefined, 'handshakes fail fast');

    const logged = e.lines.find((l) => l['parked'] === true && String(l['msg']).includes('parked.test'));
    assert.ok(logged, 'a log line says the name is parked');
    assert.match(String(logged['msg']), /rejectedIdentifier/);
    assert.match(String(logged['msg']), /refuses to issue for this name/);
    const holds = await listHolds(e.storage);
    assert.equal(holds.length, 1);
    assert.equal(holds[0]?.parked, true);
    assert.deepEqual(holds[0]?.subjects, ['parked.test']);

    // `certs list` reads the same storage.
    const cfg = await tempProxyfile(`{\n\tacme_ca ${e.proxy.directoryUrl}\n\tstorage file ${join(e.dir, 'data')}\n\tadmin off\n}\n`);
    try {
      const out = await runCli(['certs', 'list', '--config', cfg.file]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /parked\.test/);
      assert.match(out.stdout, /PARKED/);
      assert.match(out.stdout, /rejectedIdentifier/);
    } finally {
      await cfg.remove();
    }

    // A reload (manage() again) lifts the park; the CA now accepts.
    unblock();
    manager.manage(new Map([['parked.test', { issuer: e.issuer, keyType: 'p256' as const }]]));
    await waitFor(async () => (await manager.secureContextFor('parked.test')) !== undefined, 20_000, 'the certificate after the reload');
    assert.equal(e.proxy.count('newOrder'), 2);
    assert.equal((await listHolds(e.storage)).length, 0);
  } finally {
    await manager.close();
    await e.close();
  }
});

test('a CAA refusal for one identifier of a challenge parks that name only', async () => {
  const e = await env();
  try {
    e.proxy.fail({
      match: 'newOrder',
      times: 1,
      reply: {
        status: 403,
        problem: problem('compound', 'Some identifiers were rejected', {
          subproblems: [problem('caa', 'CAA record for caa.test prevents issuance', { identifier: { type: 'dns', value: 'caa.test' } })],
        }),
      },
    });
    await assert.rejects(obtain(e, ['caa.test', 'fine.test']), (err) => findRefusal(err)?.parked === true);
    const holds = await listHolds(e.storage);
    assert.deepEqual(holds.map((h) => h.subjects), [['caa.test']]);
    assert.equal(holds[0]?.problem.type, 'urn:ietf:params:acme:error:caa');
    await obtain(e, ['fine.test']);
    const orders = e.proxy.count('newOrder');
    await assert.rejects(obtain(e, ['caa.test']), (err) => findRefusal(err)?.parked === true);
    assert.equal(e.proxy.count('newOrder'), orders, 'no order for the parked name');
  } finally {
    await e.close();
  }
});

/** The path of the first file named `name` below `dir`. */
async function findFile(dir: string, name: string): Promise<string> {
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name === name) return join(entry.parentPath, entry.name);
  }
  throw new Error(`no ${name} below ${dir}`);
}
