import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { RedisStorage } from '../../src/storage/redis-storage.ts';
import { FencedWriteError } from '../../src/storage/fenced.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { obtainCertificate } from '../../src/certs/obtain.ts';
import { CertificateStore } from '../../src/certs/certificate-store.ts';
import { LocalIssuer } from '../../src/certs/local-issuer.ts';
import { issueLockName } from '../../src/certs/keys.ts';
import type { IssueRequest, Issued, Issuer } from '../../src/certs/issuer.ts';
import { silentLogger } from '../../src/log.ts';
import { parseCertificate } from '../../src/x509/certificate.ts';

let redis: RedisServer | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

async function open(prefix: string, lockTtlMs?: number): Promise<RedisStorage> {
  assert.ok(redis !== undefined, 'redis-server not started');
  const s = new RedisStorage({ url: redis.url, prefix, ...(lockTtlMs !== undefined ? { lockTtlMs } : {}) });
  await s.connect();
  return s;
}

/** Blocks this thread, timers and sockets included, as a GC pause or a stopped process would. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('each acquisition of a lock gets a larger fencing token, across clients', async () => {
  const prefix = `tok-${randomUUID()}`;
  const a = await open(prefix);
  const b = await open(prefix);
  try {
    assert.equal(a.fence('n'), undefined, 'a token for a lock not held');
    await a.lock('n');
    const first = a.fence('n');
    assert.deepEqual(first, { lock: 'n', token: 1 });
    await a.unlock('n');
    assert.equal(a.fence('n'), undefined);
    await b.lock('n');
    assert.deepEqual(b.fence('n'), { lock: 'n', token: 2 });
    // The holder's own fenced writes pass; an unfenced write is not checked at all.
    await b.put('k', 'b', { fence: b.fence('n') });
    await a.put('k2', 'unfenced');
    assert.equal((await a.get('k'))?.toString(), 'b');
    await b.unlock('n');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a holder paused past its lease cannot write or delete after another took the lock; the stored value is the newer holder\'s', async () => {
  const prefix = `lease-${randomUUID()}`;
  const ttl = 300;
  const a = await open(prefix, ttl);
  const b = await open(prefix, ttl);
  try {
    await a.lock('issue/x.test');
    const fenceA = a.fence('issue/x.test');
    assert.ok(fenceA !== undefined);
    await a.put('certs/x.crt', 'A1', { fence: fenceA });
    // A's refresh timer cannot run while the thread is blocked: the lease lapses in Redis.
    pause(ttl * 3);
    await b.lock('issue/x.test', { timeoutMs: 2000 });
    const fenceB = b.fence('issue/x.test');
    assert.ok(fenceB !== undefined && fenceB.token > fenceA.token);
    await b.put('certs/x.crt', 'B', { fence: fenceB });

    const refused = await a.put('certs/x.crt', 'A2', { fence: fenceA }).then(
      () => assert.fail('the late write was accepted'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof FencedWriteError, String(refused));
    assert.equal(refused.code, 'MS_ERR_STORAGE');
    assert.equal(refused.current, fenceB.token);
    assert.equal(refused.key, 'certs/x.crt');
    assert.match(refused.message, /issue\/x\.test.*newer holder/);
    await assert.rejects(a.delete('certs/x.crt', { fence: fenceA }), FencedWriteError);
    // Several fences: refused as soon as one of them is stale, and nothing written.
    await a.lock('other');
    await assert.rejects(a.put('certs/x.key', 'A', { fence: [a.fence('other')!, fenceA] }), (err: unknown) => err instanceof FencedWriteError && err.fence.lock === 'issue/x.test');
    assert.equal(await a.exists('certs/x.key'), false);

    assert.equal((await b.get('certs/x.crt'))?.toString(), 'B');
    assert.deepEqual(await b.list('certs'), ['certs/x.crt']);
    await b.delete('certs/x.crt', { fence: fenceB });
    assert.equal(await b.exists('certs/x.crt'), false);
    await a.unlock('other');
    await b.unlock('issue/x.test');
  } finally {
    await a.close();
    await b.close();
  }
});

/**
 * The holder runs in its own process: it takes the lock, says its token, and on "write" puts its
 * value fenced and prints what happened. Its module is imported from a file URL, so it runs the
 * same code as the server.
 */
const HOLDER = `
const { RedisStorage } = await import(${JSON.stringify(pathToFileURL(new URL('../../src/storage/redis-storage.ts', import.meta.url).pathname).href)});
const [url, prefix] = process.argv.slice(-2);
const s = new RedisStorage({ url, prefix, lockTtlMs: 400 });
await s.connect();
await s.lock('issue/y.test');
const fence = s.fence('issue/y.test');
console.log('locked ' + fence.token);
for await (const line of (await import('node:readline')).createInterface({ input: process.stdin })) {
  if (line !== 'write') continue;
  try {
    await s.put('certs/y.crt', 'A', { fence });
    console.log('written');
  } catch (err) {
    console.log('refused ' + err.name + ' ' + err.current);
  }
  await s.close();
  process.exit(0);
}
`;

test('SIGSTOP the lock holder past its lease, another takes the lock and writes, SIGCONT: the late write is refused', async () => {
  assert.ok(redis !== undefined);
  const prefix = `stop-${randomUUID()}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, redis.url, prefix], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const b = await open(prefix, 400);
  try {
    const locked = (await lines.next()).value as string;
    assert.match(locked, /^locked \d+$/);
    assert.ok(child.kill('SIGSTOP'));
    const stoppedAt = Date.now();
    await b.lock('issue/y.test', { timeoutMs: 5000 });
    const tookOverMs = Date.now() - stoppedAt;
    assert.ok(tookOverMs < 2000, `took over after ${tookOverMs} ms`);
    const fenceB = b.fence('issue/y.test')!;
    assert.equal(fenceB.token, Number(locked.split(' ')[1]) + 1);
    await b.put('certs/y.crt', 'B', { fence: fenceB });
    assert.ok(child.kill('SIGCONT'));
    child.stdin.write('write\n');
    assert.equal((await lines.next()).value, `refused FencedWriteError ${fenceB.token}`);
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, 'the paused holder crashed');
    assert.equal((await b.get('certs/y.crt'))?.toString(), 'B');
    await b.unlock('issue/y.test');
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await b.close();
  }
});

test('obtainCertificate paused past its lease while issuing: its save is refused and it returns the certificate the newer holder stored', async () => {
  const prefix = `obtain-${randomUUID()}`;
  const ttl = 300;
  const a = await open(prefix, ttl);
  const b = await open(prefix, ttl);
  const log = silentLogger();
  try {
    const storeA = new CertificateStore(a);
    const storeB = new CertificateStore(b);
    const localB = new LocalIssuer({ storage: b, log });
    let fromB: Awaited<ReturnType<typeof obtainCertificate>> | undefined;
    let droppedSerial: string | undefined;
    // A's CA answers, then A stalls past its lease; meanwhile B obtains the same name and saves.
    const stalling: Issuer = {
      id: 'local',
      storageKey: 'local',
      issue: async (request: IssueRequest): Promise<Issued> => {
        const issued = await new LocalIssuer({ storage: a, log }).issue(request);
        pause(ttl * 3);
        fromB = await obtainCertificate(['fence.test'], { storage: b, store: storeB, issuer: localB, keyType: 'p256', log, force: true });
        droppedSerial = parseCertificate(issued.chainPem).serialHex;
        return issued;
      },
    };
    const got = await obtainCertificate(['fence.test'], { storage: a, store: storeA, issuer: stalling, keyType: 'p256', log });
    assert.ok(fromB !== undefined && droppedSerial !== undefined);
    assert.notEqual(droppedSerial, fromB.meta.serialHex);
    assert.equal(got.meta.serialHex, fromB.meta.serialHex, 'A did not return the newer holder\'s certificate');
    const stored = await storeB.load('local', 'fence.test');
    assert.equal(stored?.meta.serialHex, fromB.meta.serialHex, 'the late save overwrote the newer certificate');
    assert.equal(stored.chainPem, fromB.chainPem);
  } finally {
    await a.close();
    await b.close();
  }
});

test('obtainCertificate renewing, paused past its lease while another holder took the lock and stored nothing: the refusal is rethrown, not the old certificate returned', async () => {
  const prefix = `obtain-old-${randomUUID()}`;
  const ttl = 300;
  const a = await open(prefix, ttl);
  const b = await open(prefix, ttl);
  const log = silentLogger();
  try {
    const storeA = new CertificateStore(a);
    const local = new LocalIssuer({ storage: a, log });
    const old = await obtainCertificate(['stale.test'], { storage: a, store: storeA, issuer: local, keyType: 'p256', log });
    // A renews; its CA answers, then A stalls past its lease; B takes the lock and lets it go
    // without storing a certificate (it found nothing due), so storage still holds the old one.
    const stalling: Issuer = {
      id: 'local',
      storageKey: 'local',
      issue: async (request: IssueRequest): Promise<Issued> => {
        const issued = await local.issue(request);
        pause(ttl * 3);
        await b.lock(issueLockName('stale.test'), { timeoutMs: 5_000 });
        await b.unlock(issueLockName('stale.test'));
        return issued;
      },
    };
    await assert.rejects(
      obtainCertificate(['stale.test'], { storage: a, store: storeA, issuer: stalling, keyType: 'p256', log, force: true }),
      (err: unknown) => err instanceof FencedWriteError,
      'the certificate being replaced was returned as if it were the newer holder\'s',
    );
    assert.equal((await storeA.load('local', 'stale.test'))?.meta.serialHex, old.meta.serialHex, 'the late save was refused');
  } finally {
    await a.close();
    await b.close();
  }
});
