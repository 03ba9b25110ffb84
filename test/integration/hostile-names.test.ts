/**
 * Issue 7, failures 5 and 6: names that must never reach `ask` or a CA, against a real
 * `my-server run` with a catch-all on-demand site whose ask endpoint allows everything, so only the
 * name checks stand between a hostile ClientHello and an order. Pebble counts the orders.
 *
 * Raw hellos carry the bytes no TLS library sends (NUL, UTF-8, spaces); node:tls shows what real
 * clients do with such names (Node cuts "a\0b.test" at the NUL and sends "a").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { startAsk, type AskServer } from '../helpers/ask.ts';
import { pebbleGlobals, startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { rawClientHello, sendHello, UNRECOGNIZED_NAME_ALERT } from '../helpers/raw-hello.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';

/** Every file name under `dir`, recursively; [] when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true })).map(String);
  } catch {
    return [];
  }
}

/** One node:tls handshake; resolves 'ok' or the error message. */
function nodeHandshake(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, 20_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(socket.authorized ? 'ok' : String(socket.authorizationError));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve(err.message);
    });
  });
}

describe('catch-all on-demand site whose ask allows every name', () => {
  let pebble: Pebble;
  let server: RunningServer;
  let ask: AskServer;
  let httpsPort: number;

  before(async () => {
    const [httpPort, tlsPort] = (await freePorts(2)) as [number, number];
    httpsPort = tlsPort;
    pebble = await startPebble({ httpPort, tlsPort });
    ask = await startAsk(() => true);
    server = await startServer({
      proxyfile: ({ dir, admin }) =>
        pebbleGlobals(pebble, { http: httpPort, https: httpsPort, storage: join(dir, 'data'), admin }, `\tgrace_period 1s\n\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n`) +
        `
https:// {
	tls {
		on_demand
	}
	respond "od"
}
`,
    });
  }, { timeout: 90_000 });

  after(async () => {
    await server?.kill();
    await ask?.close();
    await pebble?.stop();
  });

  test('a valid on-demand name is asked about and issued (the setup works)', { timeout: 60_000 }, async () => {
    const ordersBefore = pebble.countOrders();
    assert.equal(await nodeHandshake(httpsPort, 'ok.hostile.test', await pebble.rootPem()), 'ok', server.logs());
    assert.deepEqual(ask.asked, ['ok.hostile.test']);
    assert.equal(pebble.countOrders(), ordersBefore + 1);
  });

  test('SNI with NUL, non-ASCII, space, NBSP, invalid punycode or one label gets unrecognized_name, no ask, no order', { timeout: 60_000 }, async () => {
    const ordersBefore = pebble.countOrders();
    const askedBefore = ask.asked.length;
    const names: (string | Buffer)[] = [
      'a\0b.test',
      Buffer.from('bücher.test', 'utf8'),
      'b\xfccher.test',
      ' a.test',
      'a.test ',
      'a.test\xa0',
      'a\tb.test',
      'xn--zz.test',
      'xn--a.hostile.test',
      'xn--cafe-yvc.test',
      'test',
      'a',
      'a.test..',
      '*.hostile.test',
    ];
    for (const name of names) {
      const answer = await sendHello(httpsPort, rawClientHello(name));
      // A ServerHello here (16 03 03 ...) means the name was served; only its head is shown.
      assert.equal(answer.subarray(0, 7).toString('hex'), UNRECOGNIZED_NAME_ALERT.toString('hex'), `SNI ${JSON.stringify(name.toString())}`);
    }
    // What node:tls makes of a NUL: it sends "a", a single label, which Pebble would order.
    const nul = await nodeHandshake(httpsPort, 'a\0b.test', await pebble.rootPem());
    assert.notEqual(nul, 'ok');
    assert.deepEqual(ask.asked.slice(askedBefore), [], 'the ask endpoint saw none of them');
    assert.equal(pebble.countOrders(), ordersBefore, 'Pebble saw no order');
  });

  test('IP literals in SNI are never asked about and the local CA mints nothing for them', { timeout: 60_000 }, async () => {
    const askedBefore = ask.asked.length;
    for (const ip of ['127.0.0.1', '10.0.0.1', '1.2.3.4', '::1', '[::1]', '2001:db8::1']) {
      const answer = await sendHello(httpsPort, rawClientHello(ip));
      assert.equal(answer.subarray(0, 7).toString('hex'), UNRECOGNIZED_NAME_ALERT.toString('hex'), `SNI ${ip}`);
    }
    assert.deepEqual(ask.asked.slice(askedBefore), []);
    // The local CA's certificates live under certificates/local/<name>/ (certs/keys.ts).
    const stored = await filesUnder(join(server.dir, 'data', 'certificates', 'local'));
    assert.deepEqual(stored, [], 'the local CA issued nothing');
  });
});
