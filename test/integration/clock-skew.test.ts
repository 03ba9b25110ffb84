/**
 * Issue 7, failure 4: `my-server run` with its clock running ahead (libfaketime, Debian `faketime`)
 * against a Pebble on the real clock. Scaled down from "80 days ahead, 90-day certificates": Pebble
 * issues 6-day certificates and the server's clock is 128 hours (5⅓ days, the same 0.89 of a
 * lifetime) ahead, which keeps Pebble's own 7-day HTTPS certificate valid for the server.
 *
 * By the server's clock each new certificate is past its renewal time (one third left) the moment
 * it arrives. Before the fix it renewed once a minute; now a certificate younger than a tenth of
 * its lifetime by the time it was obtained is never due, and the skew is logged as a warning.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pebbleGlobals, startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const LIFETIME_S = 6 * 24 * 3600;
const AHEAD = '+128h';

let pebble: Pebble;
let server: RunningServer;

before(async () => {
  assert.ok(existsSync(LIBFAKETIME), `${LIBFAKETIME} is missing: apt-get install -y faketime`);
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  pebble = await startPebble({ httpPort, tlsPort: httpsPort, certificateValidityPeriod: LIFETIME_S });
  server = await startServer({
    env: { LD_PRELOAD: LIBFAKETIME, FAKETIME: AHEAD },
    proxyfile: ({ dir, admin }) =>
      pebbleGlobals(pebble, { http: httpPort, https: httpsPort, storage: join(dir, 'data'), admin }, '\tgrace_period 1s\n') +
      `
skew.test {
	respond "skewed"
}
`,
  });
}, { timeout: 90_000 });

after(async () => {
  await server?.kill();
  await pebble?.stop();
});

test('with the clock 5⅓ days ahead, a fresh 6-day certificate is not renewed again and again, and the skew is logged', { timeout: 180_000 }, async () => {
  const deadline = Date.now() + 60_000;
  while (pebble.countIssued() < 1 && Date.now() < deadline) await sleep(250);
  assert.equal(pebble.countIssued(), 1, `no certificate issued\n--- my-server log ---\n${server.logs()}`);
  // The old code renewed one minute after each certificate: 75 s would show a second order.
  await sleep(75_000);
  assert.equal(pebble.countOrders(), 1, `orders made for skew.test\n--- my-server log ---\n${server.logs()}`);
  const skewLine = server
    .logs()
    .split('\n')
    .find((l) => l.includes('clock skew'));
  assert.ok(skewLine !== undefined, `no clock-skew warning\n--- my-server log ---\n${server.logs()}`);
  assert.match(skewLine, /"level":("warn"|40)/, 'logged as a warning');
  assert.match(skewLine, /5\.3 days ahead of the CA/);
});
