/**
 * Which handler a request reaches in `my-server run`, end to end: route matchers see the
 * normalised path (decoded, doubled slashes and dot segments resolved, case folded), upgrade
 * requests are matched like any other, and an absolute-form target on http_port redirects with its
 * path only. One instance serves every case; none changes its state.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { headerOf, loopbackGlobals, rawGet, rawRequest, trackExit, UPGRADE_HEADERS } from '../helpers/clients.ts';
import { freePorts } from '../helpers/ports.ts';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.ts';
import { startServer, type RunningServer } from '../helpers/run-server.ts';

describe('route matching: respond /secret* before reverse_proxy, and a localhost HTTPS site', () => {
  let up: RecordingUpstream;
  let server: RunningServer;
  let exited: () => boolean;
  let ports: { http: number; https: number; guarded: number };

  before(async () => {
    up = await startRecordingUpstream();
    const [httpPort, httpsPort, guarded] = (await freePorts(3)) as [number, number, number];
    ports = { http: httpPort, https: httpsPort, guarded };
    server = await startServer(
      (env) =>
        loopbackGlobals(env, ports, '\tlocal_certs\n') +
        `http://127.0.0.1:${guarded} {
	respond /secret* 403
	reverse_proxy ${up.address}
}

localhost {
	reverse_proxy ${up.address}
}
`,
    );
    exited = trackExit(server);
  });

  after(async () => {
    await server?.close();
    await up?.close();
  });

  const host = (): string => `127.0.0.1:${ports.guarded}`;
  const alive = (): void => assert.equal(exited(), false, `my-server exited\n${server.stderr()}`);

  // Old: the upgrade skipped respond and was proxied, so the client got the upstream's 101.
  test('respond /secret* 403 answers a WebSocket upgrade for /secret with 403, and the upstream never sees it', { timeout: 30_000 }, async () => {
    const plain = await rawGet(ports.guarded, '/secret', host());
    assert.equal(plain.status, 403, plain.head);
    const upgrade = await rawRequest(ports.guarded, `GET /secret HTTP/1.1\r\nHost: ${host()}\r\n${UPGRADE_HEADERS}\r\n`);
    assert.equal(upgrade.status, 403, upgrade.head);
    assert.equal(upgrade.closed, true, 'the connection is closed after the 403');
    // The same upgrade elsewhere is proxied, so the 403 above came from the respond rule.
    const open = await rawRequest(ports.guarded, `GET /open HTTP/1.1\r\nHost: ${host()}\r\n${UPGRADE_HEADERS}\r\n`, 1_000);
    assert.equal(open.status, 101, open.head);
    assert.deepEqual(up.upgrades, ['/open']);
    assert.equal(up.hits.some((h) => h.includes('secret')), false, `upstream saw ${JSON.stringify(up.hits)}`);
    alive();
  });

  // Old: matching used the raw target, so encoded, doubled-slash and dot-dot forms reached the upstream.
  test('encoded, doubled-slash and dot-dot forms of /secret/x meet the respond rule; an undecodable path is 400', { timeout: 30_000 }, async () => {
    for (const target of ['/%73ecret/x', '//secret/x', '/a/../secret/x', '/SECRET/x']) {
      const res = await rawGet(ports.guarded, target, host());
      assert.equal(res.status, 403, `${target}: ${res.head}`);
    }
    const bad = await rawGet(ports.guarded, '/%zz', host());
    assert.equal(bad.status, 400, bad.head);
    const fine = await rawGet(ports.guarded, '/public/x', host());
    assert.equal(fine.status, 200, fine.head);
    assert.deepEqual(up.hits, ['/public/x'], 'only the allowed request reached the upstream');
    alive();
  });

  // Old: Location was https://localhost:PORT followed by the whole absolute-form target.
  test('an absolute-form target on http_port redirects to the HTTPS site with its path only', { timeout: 30_000 }, async () => {
    // RFC 9112 §3.2.2: the target's authority replaces Host, so this is a request for localhost.
    const res = await rawGet(ports.http, 'http://localhost/x?y=1', 'other.test');
    assert.equal(res.status, 308, res.head);
    const location = headerOf(res.head, 'location') ?? '';
    assert.equal(location, `https://localhost:${ports.https}/x?y=1`);
    assert.doesNotMatch(location.slice('https://'.length), /https?:\/\//);
    // An authority no site has is not our request, whatever Host says (issue 7, failure 7).
    const other = await rawGet(ports.http, 'http://other.test/x', 'localhost');
    assert.equal(other.status, 421, other.head);
    alive();
  });
});
