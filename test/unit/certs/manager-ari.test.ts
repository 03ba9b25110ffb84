/**
 * RFC 9773 renewal information after issuance: the manager asks the CA again at each nextCheck,
 * follows a moved window, keeps a chosen time while the window stands, and survives a CA that
 * cannot answer. Real storage and real certificates (local CA); time is a StepClock, so days of
 * schedule run in milliseconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { certIdFromCertificate } from '../../../src/acme/ari.ts';
import { AcmeClient } from '../../../src/acme/client.ts';
import { generateAccountKey } from '../../../src/acme/jws.ts';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import type { RenewalInfo } from '../../../src/acme/types.ts';
import { AcmeIssuer } from '../../../src/certs/acme-issuer.ts';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import type { IssueRequest, Issued, Issuer } from '../../../src/certs/issuer.ts';
import { certificatePrefix, issueLockName } from '../../../src/certs/keys.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager, type RenewalInfoSource } from '../../../src/certs/manager.ts';
import { renewalTime, updatedAri, type AriMeta, type CertificateMeta } from '../../../src/certs/meta.ts';
import { silentLogger, type Logger } from '../../../src/log.ts';
import type { Storage } from '../../../src/storage/storage.ts';
import { DelegatingStorage } from '../../helpers/delegating-storage.ts';
import { splitPemChain } from '../../../src/x509/certificate.ts';
import { generatePrivateKeyPem } from '../../../src/x509/keys.ts';
import { startFakeCa } from '../acme/fake-ca.ts';
import { delay, eventually, StepClock, tempStorage } from './helpers.ts';

const MIN = 60_000;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const NAME = 'ari.localhost';

type Answer = RenewalInfo | undefined | Error;

/**
 * Real certificates from the local CA, and renewalInfo answers as the test scripts them (`answer`
 * gets the 1-based number of the request and the chain asked about). issue() asks once right after
 * issuance and ignores a failure, as AcmeIssuer does.
 */
class AriIssuer implements Issuer, RenewalInfoSource {
  readonly id: string;
  readonly storageKey: string;
  readonly issued: IssueRequest[] = [];
  /** Clock time of every renewalInfo request. */
  readonly asked: number[] = [];
  readonly #local: LocalIssuer;
  readonly #clock: StepClock;
  readonly #answer: (n: number, chainPem: string) => Answer;

  constructor(local: LocalIssuer, clock: StepClock, answer: (n: number, chainPem: string) => Answer) {
    this.#local = local;
    this.#clock = clock;
    this.#answer = answer;
    this.id = local.id;
    this.storageKey = local.storageKey;
  }

  async issue(request: IssueRequest): Promise<Issued> {
    this.issued.push(request);
    const issued = await this.#local.issue(request);
    const info = await this.renewalInfo(issued.chainPem).catch(() => undefined);
    return { ...issued, ...(info ? { ari: updatedAri(undefined, info, new Date(this.#clock.now())) } : {}) };
  }

  async renewalInfo(chainPem: string): Promise<RenewalInfo | undefined> {
    this.asked.push(this.#clock.now());
    const a = this.#answer(this.asked.length, chainPem);
    if (a instanceof Error) throw a;
    return a;
  }
}

/**
 * A fault injector over a real storage. After `failNextSave()` the next put of one of NAME's
 * certificate records throws: a save's first put is its pending record, so that save writes nothing
 * and storage keeps the record it had (no roll-forward repairs it behind the test's back). After
 * `delayNextLock(ms)` the next take of NAME's issuance lock waits `ms` of real time first, so
 * whoever asks for it meanwhile gets it first.
 */
class FaultyStorage extends DelegatingStorage {
  /** Puts that threw. */
  failed = 0;
  /** Lock takes that were delayed. */
  delayed = 0;
  #armed = false;
  #lockDelayMs = 0;
  readonly #prefix: string;

  constructor(inner: Storage, issuerKey: string) {
    super(inner);
    this.#prefix = `${certificatePrefix(issuerKey, NAME)}/`;
  }

  failNextSave(): void {
    this.#armed = true;
  }

  delayNextLock(ms: number): void {
    this.#lockDelayMs = ms;
  }

  override async put(key: string, value: Buffer | string): Promise<void> {
    if (this.#armed && key.startsWith(this.#prefix)) {
      this.#armed = false;
      this.failed++;
      throw new Error(`injected: cannot write ${key}`);
    }
    return this.inner.put(key, value);
  }

  override async lock(name: string, options?: { signal?: AbortSignal | undefined; timeoutMs?: number }): Promise<void> {
    if (this.#lockDelayMs > 0 && name === issueLockName(NAME)) {
      const ms = this.#lockDelayMs;
      this.#lockDelayMs = 0;
      this.delayed++;
      await delay(ms);
    }
    return this.inner.lock(name, options);
  }

  override toString(): string {
    return `faulty ${this.inner.toString()}`;
  }
}

/** A pino logger that keeps its lines (warn and up) as objects. */
function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

interface Ctx {
  readonly mgr: CertificateManager;
  readonly clock: StepClock;
  readonly issuer: AriIssuer;
  readonly store: CertificateStore;
  /** The manager's storage: a FaultyStorage over the real one. */
  readonly storage: FaultyStorage;
  /** When the test started, on the fake clock. */
  readonly t0: number;
  readonly storedMeta: () => Promise<CertificateMeta | undefined>;
  readonly meta: () => CertificateMeta | undefined;
}

async function withAri(
  options: { lifetimeMs: number; answer: (n: number, clock: StepClock) => Answer; log?: Logger },
  fn: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const tmp = await tempStorage();
  const clock = new StepClock();
  const log = options.log ?? silentLogger();
  const issuer = new AriIssuer(new LocalIssuer({ storage: tmp.storage, log, lifetimeMs: options.lifetimeMs }), clock, (n) => options.answer(n, clock));
  const storage = new FaultyStorage(tmp.storage, issuer.storageKey);
  const store = new CertificateStore(storage);
  const mgr = new CertificateManager({ storage, store, log, clock });
  try {
    mgr.manage(new Map([[NAME, { issuer, keyType: 'p256' }]]));
    assert.ok(await eventually(() => mgr.certificates().length === 1), 'first certificate obtained');
    await fn({
      mgr,
      clock,
      issuer,
      store,
      storage,
      t0: clock.now(),
      storedMeta: () => store.loadMeta(issuer.storageKey, NAME),
      meta: () => mgr.certificates()[0]?.meta,
    });
  } finally {
    await mgr.close();
    await delay(100);
    await tmp.remove();
  }
}

function window(start: number, end: number, retryAfterMs?: number): RenewalInfo {
  return { suggestedWindow: { start: new Date(start), end: new Date(end) }, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
}

/** Lets the work a timer started (fetch, storage writes) finish: real time, since the clock is fake. */
const settle = (): Promise<void> => delay(50);

test('updatedAri keeps the chosen time while the window stands, re-rolls a moved one, and clamps nextCheck', () => {
  const now = new Date('2025-03-01T00:00:00Z');
  const w = (s: string, e: string, retryAfterMs?: number): RenewalInfo => window(Date.parse(s), Date.parse(e), retryAfterMs);
  const previous: AriMeta = { start: '2025-04-01T00:00:00.000Z', end: '2025-04-02T00:00:00.000Z', renewAt: '2025-04-01T07:00:00.000Z', checkedAt: '2025-02-28T00:00:00.000Z' };
  const cases: { name: string; prev: AriMeta | undefined; info: RenewalInfo; renewAt: string; nextInMs: number }[] = [
    { name: 'first answer', prev: undefined, info: w('2025-04-01T00:00:00Z', '2025-04-02T00:00:00Z', 6 * HOUR), renewAt: '2025-04-01T12:00:00.000Z', nextInMs: 6 * HOUR },
    { name: 'same window', prev: previous, info: w('2025-04-01T00:00:00Z', '2025-04-02T00:00:00Z', 2 * HOUR), renewAt: previous.renewAt, nextInMs: 2 * HOUR },
    { name: 'window moved', prev: previous, info: w('2025-03-01T00:00:00Z', '2025-03-02T00:00:00Z'), renewAt: '2025-03-01T12:00:00.000Z', nextInMs: 6 * HOUR },
    { name: 'only the end moved', prev: previous, info: w('2025-04-01T00:00:00Z', '2025-04-03T00:00:00Z', 10_000), renewAt: '2025-04-02T00:00:00.000Z', nextInMs: MIN },
    { name: 'Retry-After over a day', prev: previous, info: w('2025-04-01T00:00:00Z', '2025-04-02T00:00:00Z', 3 * DAY), renewAt: previous.renewAt, nextInMs: DAY },
  ];
  for (const c of cases) {
    const ari = updatedAri(c.prev, c.info, now, () => 0.5);
    assert.equal(ari.renewAt, c.renewAt, c.name);
    assert.equal(ari.checkedAt, now.toISOString(), c.name);
    assert.equal(Date.parse(ari.nextCheck ?? '') - now.getTime(), c.nextInMs, c.name);
  }
});

test('renewal information is fetched again once nextCheck passes, not before, and each answer is stored', async () => {
  const answers = (n: number, clock: StepClock): Answer => {
    const t = clock.now();
    // Retry-After: 6 h at issuance, then 10 s (clamped to 1 min), then 3 days (clamped to 24 h).
    return window(t + 50 * DAY, t + 51 * DAY, n === 1 ? 6 * HOUR : n === 2 ? 10_000 : 3 * DAY);
  };
  await withAri({ lifetimeMs: 90 * DAY, answer: answers }, async ({ clock, issuer, storedMeta }) => {
    assert.equal(issuer.asked.length, 1, 'asked once, at issuance');
    const first = (await storedMeta())?.ari;
    assert.ok(first?.nextCheck);
    assert.equal(Date.parse(first.nextCheck) - Date.parse(first.checkedAt), 6 * HOUR);

    clock.advance(6 * HOUR - 1_000);
    await settle();
    assert.equal(issuer.asked.length, 1, 'not asked before nextCheck');
    clock.advance(1_000);
    assert.ok(await eventually(() => issuer.asked.length === 2), 'asked again at nextCheck');
    const at2 = clock.now();
    assert.ok(await eventually(async () => (await storedMeta())?.ari?.checkedAt === new Date(at2).toISOString()), 'the answer is stored');
    assert.equal((await storedMeta())?.ari?.nextCheck, new Date(at2 + MIN).toISOString(), 'a 10 s Retry-After counts as one minute');

    clock.advance(MIN - 1_000);
    await settle();
    assert.equal(issuer.asked.length, 2, 'not asked within the minute');
    clock.advance(1_000);
    assert.ok(await eventually(() => issuer.asked.length === 3));
    const at3 = clock.now();
    assert.ok(await eventually(async () => (await storedMeta())?.ari?.nextCheck === new Date(at3 + DAY).toISOString()), 'a 3-day Retry-After counts as one day');
    assert.equal(issuer.issued.length, 1, 'no renewal');
  });
});

test('a window the CA moves into the past renews the certificate at once', async () => {
  const answers = (n: number, clock: StepClock): Answer => {
    const t = clock.now();
    // The second answer (the first poll) moves the window into the past, as before a revocation.
    return n === 2 ? window(t - 2 * DAY, t - DAY, 6 * HOUR) : window(t + 50 * DAY, t + 51 * DAY, 6 * HOUR);
  };
  await withAri({ lifetimeMs: 90 * DAY, answer: answers }, async ({ clock, issuer, meta, t0 }) => {
    const old = meta();
    assert.ok(old);
    assert.ok(renewalTime(old).getTime() > t0 + 40 * DAY);

    clock.advance(6 * HOUR);
    assert.ok(await eventually(() => issuer.issued.length === 2, 10_000), 'renewed after the window moved');
    assert.ok(await eventually(() => meta()?.serialHex !== old.serialHex), 'the new certificate is loaded');
    assert.equal(issuer.issued[1]?.replacing?.chainPem !== undefined, true, 'a renewal of the old certificate');
    const fresh = meta();
    assert.ok(fresh?.ari && Date.parse(fresh.ari.renewAt) > clock.now(), 'the new certificate has its own window');
    // One more poll interval on: the new certificate is not renewed again.
    clock.advance(6 * HOUR);
    await settle();
    assert.equal(issuer.issued.length, 2);
  });
});

/**
 * How storing the moved window goes: it fails; it is slow to get the issuance lock (so a renewal
 * started at once would take the lock first and judge by the older stored record); it succeeds.
 */
const saveCases = [
  { save: 'fails', fault: (s: FaultyStorage): void => s.failNextSave(), check: (s: FaultyStorage): boolean => s.failed === 1 },
  { save: 'waits for the lock', fault: (s: FaultyStorage): void => s.delayNextLock(300), check: (s: FaultyStorage): boolean => s.delayed === 1 },
  { save: 'succeeds', fault: (): void => undefined, check: (s: FaultyStorage): boolean => s.failed === 0 && s.delayed === 0 },
];

for (const c of saveCases) {
  test(`a window moved into the past renews at once when storing the renewal information ${c.save}`, async () => {
    const { log, lines } = capturingLogger();
    const answers = (n: number, clock: StepClock): Answer => {
      const t = clock.now();
      return n === 2 ? window(t - 2 * DAY, t - DAY, 6 * HOUR) : window(t + 50 * DAY, t + 51 * DAY, 6 * HOUR);
    };
    await withAri({ lifetimeMs: 90 * DAY, answer: answers, log }, async ({ clock, issuer, meta, storedMeta, storage }) => {
      const old = meta();
      assert.ok(old);
      c.fault(storage);

      // The poll that moves the window, and no more time: the renewal must not wait for anything.
      clock.advance(6 * HOUR);
      assert.ok(await eventually(() => issuer.issued.length === 2, 10_000), 'renewed after the window moved');
      assert.equal(issuer.issued[1]?.replacing?.chainPem !== undefined, true, 'a renewal of the old certificate');
      assert.ok(await eventually(() => meta()?.serialHex !== undefined && meta()?.serialHex !== old.serialHex), 'the new certificate is loaded');
      assert.ok(await eventually(async () => (await storedMeta())?.serialHex === meta()?.serialHex), 'and stored');
      assert.ok(c.check(storage), 'the fault fired as scripted');
      const failedLine = lines.some((l) => typeof l['msg'] === 'string' && l['msg'].startsWith(`storing renewal information for ${NAME} failed`));
      assert.equal(failedLine, c.save === 'fails', 'a failed save is logged');

      // One more poll interval on: the new certificate is not renewed again.
      clock.advance(6 * HOUR);
      await settle();
      assert.equal(issuer.issued.length, 2);
    });
  });
}

test('two processes that both see the window move into the past make one order', async () => {
  const tmp = await tempStorage();
  const clock = new StepClock();
  const t0 = clock.now();
  let first: string | undefined;
  // The first certificate's window moves into the past at its first poll; any other's stays ahead.
  const answer = (_n: number, chainPem: string): Answer => {
    const t = clock.now();
    first ??= chainPem;
    return chainPem === first && t >= t0 + 6 * HOUR ? window(t - 2 * DAY, t - DAY, 6 * HOUR) : window(t + 50 * DAY, t + 51 * DAY, 6 * HOUR);
  };
  const issuer = new AriIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger(), lifetimeMs: 90 * DAY }), clock, answer);
  // Two storages over one folder, as two processes open it. Whichever renews second holds the old
  // certificate, due by its own (fresher than stored, or not) metadata, and must take the other's.
  const managers = [tmp.storage, tmp.other()].map((storage) => new CertificateManager({ storage, store: new CertificateStore(storage), log: silentLogger(), clock }));
  const serials = (): (string | undefined)[] => managers.map((m) => m.certificates()[0]?.meta.serialHex);
  try {
    for (const mgr of managers) {
      mgr.manage(new Map([[NAME, { issuer, keyType: 'p256' }]]));
      assert.ok(await eventually(() => mgr.certificates().length === 1));
    }
    const [a, b] = serials();
    assert.ok(a !== undefined && a === b, 'B loaded the certificate A obtained');
    assert.equal(issuer.issued.length, 1);

    clock.advance(6 * HOUR);
    assert.ok(await eventually(() => issuer.asked.length >= 3), 'both polled');
    assert.ok(await eventually(() => serials().every((s) => s !== undefined && s !== a), 10_000), 'both serve a renewed certificate');
    await settle();
    assert.equal(issuer.issued.length, 2, 'one order between them');
    const [a2, b2] = serials();
    assert.equal(a2, b2, 'the same certificate');
  } finally {
    await Promise.all(managers.map((m) => m.close()));
    await delay(100);
    await tmp.remove();
  }
});

test('an unchanged window keeps the renewal time chosen in it and does not renew', async () => {
  let fixed: RenewalInfo | undefined;
  const answers = (_n: number, clock: StepClock): Answer => (fixed ??= window(clock.now() + 50 * DAY, clock.now() + 51 * DAY, 6 * HOUR));
  await withAri({ lifetimeMs: 90 * DAY, answer: answers }, async ({ clock, issuer, meta, storedMeta }) => {
    const chosen = meta()?.ari?.renewAt;
    assert.ok(chosen);
    for (let poll = 2; poll <= 5; poll++) {
      clock.advance(6 * HOUR);
      assert.ok(await eventually(() => issuer.asked.length === poll), `poll ${poll}`);
      const at = new Date(clock.now()).toISOString();
      assert.ok(await eventually(async () => (await storedMeta())?.ari?.checkedAt === at), `poll ${poll} stored`);
      assert.equal((await storedMeta())?.ari?.renewAt, chosen, `poll ${poll} kept the stored time`);
      assert.equal(meta()?.ari?.renewAt, chosen, `poll ${poll} kept the loaded time`);
    }
    assert.equal(issuer.issued.length, 1, 'no renewal');
  });
});

test('a window moved later gets a new renewal time inside it, and no renewal', async () => {
  const answers = (n: number, clock: StepClock): Answer => {
    const t = clock.now();
    return n === 1 ? window(t + 50 * DAY, t + 51 * DAY, 6 * HOUR) : window(t + 70 * DAY, t + 71 * DAY, 6 * HOUR);
  };
  await withAri({ lifetimeMs: 90 * DAY, answer: answers }, async ({ clock, issuer, meta }) => {
    const before = meta()?.ari;
    assert.ok(before);
    clock.advance(6 * HOUR);
    assert.ok(await eventually(() => meta()?.ari?.start !== before.start));
    const after = meta()?.ari;
    assert.ok(after);
    const renewAt = Date.parse(after.renewAt);
    assert.ok(renewAt >= Date.parse(after.start) && renewAt < Date.parse(after.end), 'chosen inside the new window');
    await settle();
    assert.equal(issuer.issued.length, 1);
  });
});

test('a failing renewalInfo fetch is logged with the CA problem, retried with backoff, and the lifetime rule still renews', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const down = (): Answer => new AcmeProblem({ type: 'urn:ietf:params:acme:error:serverInternal', detail: 'renewal info is down', status: 503 });
  await withAri({ lifetimeMs: 3 * DAY, answer: down, log }, async ({ clock, issuer, meta }) => {
    const first = meta();
    assert.ok(first);
    assert.equal(first.ari, undefined, 'no window: the fetch at issuance failed');
    assert.equal(issuer.asked.length, 1);

    // Asked again a minute after the certificate was loaded.
    clock.advance(MIN);
    assert.ok(await eventually(() => issuer.asked.length === 2), 'retried a minute later');
    assert.ok(
      await eventually(() =>
        lines.some((l) => {
          const p = l['problem'] as { type?: string; detail?: string } | undefined;
          return p?.type === 'urn:ietf:params:acme:error:serverInternal' && p.detail === 'renewal info is down' && l['name'] === NAME;
        }),
      ),
      'the log line keeps the problem type and detail',
    );
    // First backoff step of a 5xx: between one and two minutes.
    clock.advance(MIN - 1_000);
    await settle();
    assert.equal(issuer.asked.length, 2, 'not retried within the minute');
    clock.advance(MIN + 1_000);
    assert.ok(await eventually(() => issuer.asked.length === 3), 'retried within two minutes');

    // On to the lifetime rule's time, an hour at a time.
    const due = renewalTime(first).getTime();
    while (clock.now() < due + MIN) {
      clock.advance(HOUR);
      await delay(5);
    }
    assert.ok(await eventually(() => issuer.issued.length === 2, 10_000), 'renewed by the lifetime rule');
    assert.ok(await eventually(() => meta()?.serialHex !== first.serialHex));
    // ~2 days: three quick retries, then one every six hours (plus the new certificate's own).
    assert.ok(issuer.asked.length >= 8 && issuer.asked.length <= 16, `${issuer.asked.length} renewalInfo requests in ~2 days`);
  });
});

test('close() cancels renewal-information checks', async () => {
  await withAri({ lifetimeMs: 90 * DAY, answer: (_n, clock) => window(clock.now() + 50 * DAY, clock.now() + 51 * DAY, 6 * HOUR) }, async ({ mgr, clock, issuer }) => {
    await mgr.close();
    clock.advance(2 * DAY);
    await settle();
    assert.equal(issuer.asked.length, 1);
    assert.equal(issuer.issued.length, 1);
  });
});

test('AcmeIssuer.renewalInfo asks about the leaf CertID and rejects with the CA problem', async () => {
  const tmp = await tempStorage();
  const ca = await startFakeCa();
  const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateAccountKey() });
  try {
    const local = new LocalIssuer({ storage: tmp.storage, log: silentLogger() });
    const { chainPem } = await local.issue({ names: [NAME], keyPem: await generatePrivateKeyPem('p256'), keyType: 'p256' });
    const id = certIdFromCertificate(new X509Certificate(splitPemChain(chainPem)[0] ?? '').raw);
    let down = false;
    ca.on(`/renewal-info/${id}`, () =>
      down
        ? { status: 503, headers: { 'retry-after': '120' }, body: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'try later' } }
        : { headers: { 'retry-after': '3600' }, body: { suggestedWindow: { start: '2030-01-01T00:00:00Z', end: '2030-01-02T00:00:00Z' } } },
    );
    const issuer = new AcmeIssuer({ client: () => Promise.resolve(client), directoryUrl: ca.directoryUrl, solvers: new Map(), log: silentLogger() });
    const info = await issuer.renewalInfo(chainPem);
    assert.deepEqual(info, { suggestedWindow: { start: new Date('2030-01-01T00:00:00Z'), end: new Date('2030-01-02T00:00:00Z') }, retryAfterMs: 3_600_000 });
    down = true;
    await assert.rejects(issuer.renewalInfo(chainPem), (err: unknown) => {
      assert.ok(err instanceof AcmeProblem);
      assert.equal(err.type, 'urn:ietf:params:acme:error:serverInternal');
      assert.equal(err.detail, 'try later');
      assert.equal(err.retryAfter, 120_000);
      return true;
    });
  } finally {
    client.close();
    await ca.close();
    await tmp.remove();
  }
});
