/**
 * On-demand first handshake → valid certificate, against the local Pebble (issue 12).
 *
 * Starts Pebble (PEBBLE_VA_NOSLEEP as the tests run it, no authorization reuse, no nonce
 * rejection, so each name costs one full validation) and `my-server run` with one on-demand site
 * behind an ask endpoint. One warm-up name registers the ACME account; then each of `--names N`
 * (default 5) new names is timed from the first byte of its first handshake to a handshake that
 * verifies against Pebble's root. Prints each time and the median, in ms.
 *
 *   node_modules/.bin/node bench/on-demand-first.ts [--names 5]
 */
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { startAsk } from '../test/helpers/ask.ts';
import { pebbleGlobals, startPebble } from '../test/helpers/pebble.ts';
import { freePorts } from '../test/helpers/ports.ts';
import { startServer } from '../test/helpers/run-server.ts';

const { values } = parseArgs({ options: { names: { type: 'string', default: '5' } } });
const count = Number(values.names);
if (!Number.isInteger(count) || count < 1 || count > 50) throw new Error(`--names: expected 1..50, got ${values.names}`);

/** One handshake for `name` verified against `ca`; resolves with the time it took, rejects on failure. */
function verifiedHandshake(port: number, name: string, ca: string): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: name, ca, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => socket.destroy(new Error(`${name}: no handshake after 30 s`)), 30_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const ms = performance.now() - start;
      socket.end();
      if (socket.authorized) resolve(ms);
      else reject(new Error(`${name}: ${String(socket.authorizationError)}`));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
const pebble = await startPebble({ httpPort, tlsPort: httpsPort, authzReuse: 0, nonceReject: 0 });
const ask = await startAsk(() => true);
try {
  const server = await startServer(
    (env) => `${pebbleGlobals(pebble, { http: httpPort, https: httpsPort, storage: env.storage, admin: `127.0.0.1:${env.adminPort}` }, `\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n`)}
*.od.test {
	tls {
		on_demand
	}
	respond "od"
}
`,
  );
  try {
    const root = await pebble.rootPem();
    const warmup = await verifiedHandshake(httpsPort, 'warmup.od.test', root);
    const times: number[] = [];
    for (let i = 0; i < count; i++) times.push(await verifiedHandshake(httpsPort, `n${i}-${Date.now()}.od.test`, root));
    console.log(`warm-up (with account registration): ${warmup.toFixed(0)} ms`);
    console.log(`first handshake → valid certificate, each: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    console.log(`median of ${count}: ${median(times).toFixed(0)} ms`);
  } catch (err) {
    console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await server.close();
  }
} finally {
  await ask.close();
  await pebble.stop();
}
