/**
 * Upgrade requests no site serves, in `my-server run`, end to end: the server answers them and
 * survives clients that reset the connection under it. Matching of upgrades to routes is in
 * run-matching.test.ts; upgraded sockets at shutdown in run-shutdown.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { get, loopbackGlobals, trackExit, UPGRADE_HEADERS } from '../helpers/clients.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer } from '../helpers/run-server.ts';

// Old: the upgraded socket had no error listener, and answering 404 to a reset client was an
// uncaught ECONNRESET/EPIPE that killed the process.
test('200 upgrade requests for an unknown host, each reset by the client, leave the server serving', { timeout: 60_000 }, async (t) => {
  const [httpPort, httpsPort, site] = (await freePorts(3)) as [number, number, number];
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort })}
http://known.test:${site} {
	respond "known"
}
`);
  t.after(() => server.close());
  const exited = trackExit(server);
  const request = `GET /ws HTTP/1.1\r\nHost: unknown.test:${site}\r\n${UPGRADE_HEADERS}\r\n`;
  const resetOne = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = net.connect(site, '127.0.0.1');
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      socket.on('connect', () => {
        socket.write(request);
        socket.resetAndDestroy();
      });
    });
  // 20 at a time: enough overlap to race the server's answer against the resets.
  for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, resetOne));
  // The request below is the barrier: the server reads the reset connections' requests (and
  // fails writing their 404s) before it accepts this later one, so a crash from those writes
  // shows here as a refused or reset connection, without a fixed wait.
  const res = await get(`http://127.0.0.1:${site}/`, { host: `known.test:${site}` });
  assert.deepEqual(res, { status: 200, body: 'known' });
  assert.equal(exited(), false, `my-server exited\n${server.stderr().slice(-3000)}`);
});
