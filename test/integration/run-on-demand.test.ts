/**
 * On-demand TLS with the local CA in `my-server run`, end to end: the ask endpoint decides, once
 * per name, and a reload can switch the policy on. On-demand with an ACME CA (Pebble) is covered by
 * run-tls.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAsk, type AskServer } from '../helpers/ask.ts';
import { get, handshake, localRoot, loopbackGlobals, postLoad } from '../helpers/clients.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer, type RunningServer } from '../helpers/run-server.ts';

/** The on-demand ask policy: 403 for names whose first label starts with "bad", else 200. */
const askAllows = (domain: string): boolean => !domain.startsWith('bad');

describe('on-demand with the local CA behind an ask endpoint', () => {
  let ask: AskServer;
  let server: RunningServer;
  let httpsPort: number;

  before(async () => {
    ask = await startAsk(askAllows);
    const [httpPort, hp] = (await freePorts(2)) as [number, number];
    httpsPort = hp;
    server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort }, `\tlocal_certs\n\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n`)}
https:// {
	tls {
		on_demand
	}
	respond "od"
}
`);
  });

  after(async () => {
    await server?.close();
    await ask?.close();
  });

  test('an allowed name gets a certificate from the local CA at its first handshake', { timeout: 30_000 }, async () => {
    const first = await handshake(httpsPort, 'good.od.test');
    assert.equal(first.ok, true, `${first.error}\n${server.stderr().slice(-3000)}`);
    assert.deepEqual(ask.asked.filter((d) => d === 'good.od.test'), ['good.od.test']);
    const root = await localRoot(server);
    const verified = await handshake(httpsPort, 'good.od.test', root.pem);
    assert.equal(verified.authorized, true, verified.error);
    assert.match(verified.subjectAltName ?? '', /DNS:good\.od\.test/);
  });

  // Old: every handshake for a refused name asked again (a cheap way to flood the ask endpoint).
  test('five handshakes in a row for a refused name ask the endpoint once', { timeout: 30_000 }, async () => {
    for (let i = 0; i < 5; i++) {
      const res = await handshake(httpsPort, 'bad.od.test');
      assert.equal(res.ok, false, `handshake ${i + 1} succeeded`);
    }
    assert.equal(ask.asked.filter((d) => d === 'bad.od.test').length, 1, `asked: ${JSON.stringify(ask.asked)}`);
  });

  // Old: the literal name was asked about (and would have been issued for if allowed).
  test('an SNI with a literal asterisk fails the handshake without asking', { timeout: 30_000 }, async () => {
    const before = ask.asked.length;
    const res = await handshake(httpsPort, '*.od.test');
    assert.equal(res.ok, false, 'the handshake failed');
    // A handshake for a new refused name is the barrier: it is asked about after anything the
    // asterisk handshake set off, so the ask log then holds that ask too if there was one.
    await handshake(httpsPort, 'bad-barrier.od.test');
    assert.deepEqual(ask.asked.slice(before), ['bad-barrier.od.test']);
  });
});

// Old: the on-demand policy was built only from the config at start, so a reload adding it never asked.
test('a reload that adds on_demand_tls and an on-demand site issues for an allowed name after asking', { timeout: 40_000 }, async (t) => {
  const ask = await startAsk(askAllows);
  t.after(() => ask.close());
  const [httpPort, httpsPort, site] = (await freePorts(3)) as [number, number, number];
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort }, '\tlocal_certs\n')}
http://127.0.0.1:${site} {
	respond "v1"
}
`);
  t.after(() => server.close());
  const next = `${loopbackGlobals(server, { http: httpPort, https: httpsPort }, `\tlocal_certs\n\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n`)}
http://127.0.0.1:${site} {
	respond "v2"
}

https:// {
	tls {
		on_demand
	}
	respond "od"
}
`;
  const load = await postLoad(server, next);
  assert.equal(load.status, 200, load.body);
  assert.equal((await get(`http://127.0.0.1:${site}/`)).body, 'v2', 'the new config serves');
  const first = await handshake(httpsPort, 'after-reload.od.test');
  assert.equal(first.ok, true, `${first.error}\n${server.stderr().slice(-3000)}`);
  assert.deepEqual(ask.asked, ['after-reload.od.test']);
  const root = await localRoot(server);
  const verified = await handshake(httpsPort, 'after-reload.od.test', root.pem);
  assert.equal(verified.authorized, true, verified.error);
});
