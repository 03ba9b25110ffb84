/**
 * Issue 7, failures 5 and 6, at the certificate manager: under a catch-all on-demand policy whose
 * ask endpoint allows everything, names that must never be issued for are refused before ask and
 * before any issuer; and a denied name keeps little memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CertificateStore } from '../../../src/certs/certificate-store.ts';
import type { Issuer } from '../../../src/certs/issuer.ts';
import { LocalIssuer } from '../../../src/certs/local-issuer.ts';
import { CertificateManager, type Clock } from '../../../src/certs/manager.ts';
import { OnDemandPolicy } from '../../../src/certs/on-demand.ts';
import { silentLogger } from '../../../src/log.ts';
import { CountingIssuer, delay, tempStorage, type TempStorage } from './helpers.ts';

interface Ask {
  readonly url: string;
  readonly asked: string[];
  close(): Promise<void>;
}

async function startAsk(status: number): Promise<Ask> {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    asked.push(new URL(req.url ?? '/', 'http://x').searchParams.get('domain') ?? '');
    res.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ask`,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A manager whose every name is covered on demand by `issuerFor(tmp)`'s issuer, asking `ask`. */
async function withOnDemand(ask: Ask, issuerFor: (tmp: TempStorage) => Issuer, fn: (mgr: CertificateManager) => Promise<void>, clock?: Clock): Promise<void> {
  const tmp = await tempStorage();
  const issuer = issuerFor(tmp);
  const policy = new OnDemandPolicy({ ask: ask.url });
  const mgr = new CertificateManager({
    ...(clock ? { clock } : {}),
    storage: tmp.storage,
    store: new CertificateStore(tmp.storage),
    log: silentLogger(),
    onDemand: { covers: () => ({ issuer, keyType: 'p256' }), authorize: (name) => policy.authorize(name) },
  });
  try {
    await fn(mgr);
  } finally {
    await mgr.close();
    await delay(50);
    await tmp.remove();
  }
}

test('IP literals in SNI are neither asked about nor issued for, even by the local CA', async () => {
  const ask = await startAsk(200);
  let issuer: CountingIssuer | undefined;
  try {
    await withOnDemand(ask, (tmp) => (issuer = new CountingIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }))), async (mgr) => {
      for (const ip of ['127.0.0.1', '10.0.0.1', '1.2.3.4', '::1', '[::1]', '::ffff:1.2.3.4', 'FE80::1']) {
        assert.equal(await mgr.secureContextFor(ip), undefined, ip);
      }
      assert.deepEqual(ask.asked, []);
      assert.equal(issuer?.calls, 0);
      // The setup does issue for a real name.
      assert.ok(await mgr.secureContextFor('fine.localhost'));
      assert.deepEqual(ask.asked, ['fine.localhost']);
    });
  } finally {
    await ask.close();
  }
});

/** An issuer with an ACME-like id that records names and never issues. */
class PublicCaIssuer implements Issuer {
  readonly id = 'https://acme.example/directory';
  readonly storageKey = 'acme.example-directory';
  readonly names: string[] = [];
  issue(request: { readonly names: readonly string[] }): Promise<never> {
    this.names.push(...request.names);
    return Promise.reject(new Error('not in this test'));
  }
}

test('single-label and invalid names never reach ask or a public CA; the local CA may serve one label', async () => {
  const ask = await startAsk(200);
  const publicCa = new PublicCaIssuer();
  try {
    await withOnDemand(ask, () => publicCa, async (mgr) => {
      for (const name of ['test', 'a', 'intranet', 'xn--zz.test', 'a\0b.test', ' a.test', 'a.test\xa0', 'b\xfccher.test', '*.a.test']) {
        assert.equal(await mgr.secureContextFor(name), undefined, JSON.stringify(name));
      }
      assert.deepEqual(ask.asked, []);
      assert.deepEqual(publicCa.names, []);
    });
    let local: CountingIssuer | undefined;
    await withOnDemand(ask, (tmp) => (local = new CountingIssuer(new LocalIssuer({ storage: tmp.storage, log: silentLogger() }))), async (mgr) => {
      assert.ok(await mgr.secureContextFor('printer'));
      assert.deepEqual(ask.asked, ['printer']);
      assert.equal(local?.calls, 1);
    });
  } finally {
    await ask.close();
  }
});

test('a name the ask endpoint denies keeps under 1 KiB of heap (the failure cache entry, bounded)', { timeout: 120_000 }, async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const heapUsed = (): number => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const ask = await startAsk(403);
  try {
    await withOnDemand(ask, (tmp) => new LocalIssuer({ storage: tmp.storage, log: silentLogger() }), async (mgr) => {
      let next = 0;
      const deny = async (count: number): Promise<void> => {
        const end = next + count;
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            while (next < end) assert.equal(await mgr.secureContextFor(`n${next++}.denied.test`), undefined);
          }),
        );
      };
      await deny(200); // warm-up: code, sockets to the ask endpoint
      const before = heapUsed();
      const N = 3_000;
      await deny(N);
      const perName = (heapUsed() - before) / N;
      assert.ok(perName < 1024, `${perName.toFixed(0)} bytes retained per denied name`);
      assert.equal(ask.asked.length, N + 200, 'each name asked once');
    });
  } finally {
    await ask.close();
  }
});

test('denied names are remembered in a capped cache: past 10,000 the oldest are forgotten, the newest still refused without asking', { timeout: 180_000 }, async () => {
  // Time stands still, so no refusal expires: only the cap can make a name be asked again.
  const frozen: Clock = { now: () => 1_800_000_000_000, setTimer: () => undefined, clearTimer: () => undefined };
  const ask = await startAsk(403);
  try {
    await withOnDemand(ask, (tmp) => new LocalIssuer({ storage: tmp.storage, log: silentLogger() }), async (mgr) => {
      // The manager's failure cache holds 10,000 names (manager.ts, #failed).
      const N = 10_500;
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < N) await mgr.secureContextFor(`n${next++}.denied.test`);
        }),
      );
      assert.equal(ask.asked.length, N);
      for (let i = N - 100; i < N; i++) assert.equal(await mgr.secureContextFor(`n${i}.denied.test`), undefined);
      assert.equal(ask.asked.length, N, 'the newest refusals are still cached');
      for (let i = 0; i < 100; i++) assert.equal(await mgr.secureContextFor(`n${i}.denied.test`), undefined);
      assert.equal(ask.asked.length, N + 100, 'the oldest fell out: the cache is capped');
    }, frozen);
  } finally {
    await ask.close();
  }
});
