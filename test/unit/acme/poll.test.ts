import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChallengeInfo, Solver } from '../../../src/challenges/solver.ts';
import { AcmeClient } from '../../../src/acme/client.ts';
import { obtainCertificate } from '../../../src/acme/flow.ts';
import { generateAccountKey } from '../../../src/acme/jws.ts';
import { FIRST_POLL_MS, MAX_POLL_INTERVAL_MS, MIN_POLL_MS, pollDelay } from '../../../src/acme/poll.ts';
import { startFakeCa } from './fake-ca.ts';
import { installIssuer } from './fake-issuer.ts';

test('without Retry-After the poll wait starts at 50 ms and doubles up to the 1 s cap', () => {
  const waits = Array.from({ length: 8 }, (_, i) => pollDelay(i, undefined));
  assert.deepEqual(waits, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(FIRST_POLL_MS, 50);
  assert.equal(MAX_POLL_INTERVAL_MS, 1000);
  // Far attempts stay at the cap (no Infinity, no NaN).
  assert.equal(pollDelay(10_000, undefined), 1000);
});

test('a smaller or larger cap bounds the doubling', () => {
  assert.deepEqual([0, 1, 2, 3].map((i) => pollDelay(i, undefined, 150)), [50, 100, 150, 150]);
  assert.deepEqual([4, 5, 6, 7].map((i) => pollDelay(i, undefined, 5_000)), [800, 1600, 3200, 5000]);
  // A cap below the floor cannot make a tight loop.
  assert.equal(pollDelay(0, undefined, 0), MIN_POLL_MS);
});

test('a Retry-After from the CA decides the wait, even above the cap, and never below the floor', () => {
  assert.equal(pollDelay(0, 4_000), 4_000, 'never more often than the CA asks');
  assert.equal(pollDelay(7, 30_000), 30_000, 'the cap is for our own backoff only');
  assert.equal(pollDelay(3, 0), MIN_POLL_MS, 'Retry-After: 0 is no tight loop');
  assert.equal(pollDelay(3, -5_000), MIN_POLL_MS, 'a date in the past is no tight loop');
  assert.equal(pollDelay(2, Number.NaN), 200, 'an unparsable value counts as absent');
});

test('the flow polls a pending authorization after 50, 100, 200, 400 ms, and a processing order after the CA\'s Retry-After', async () => {
  const ca = await startFakeCa();
  // Pending for four polls after the challenge is answered; finalize and the processing order send
  // Retry-After 3 and 2 (fake-issuer.ts).
  installIssuer(ca, { settleAfterPolls: 4 });
  const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateAccountKey(), accountUrl: `${ca.url}/acct/1` });
  const solver: Solver = {
    present: async (_c: ChallengeInfo) => {},
    cleanup: async (_c: ChallengeInfo) => {},
  };
  const sleeps: number[] = [];
  let clock = 1_000_000;
  try {
    await obtainCertificate(client, {
      identifiers: [{ type: 'dns', value: 'a.test' }],
      csrDer: new Uint8Array([0x30, 0x00]),
      solvers: new Map([['http-01', solver]]),
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
      now: () => clock,
    });
    assert.deepEqual(sleeps, [50, 100, 200, 400, 3000, 2000]);
  } finally {
    client.close();
    await ca.close();
  }
});
