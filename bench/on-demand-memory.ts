/**
 * `my-server run` with N on-demand names from the local CA (issue 12's "1,000 on-demand names
 * from the local CA, 8 at a time"): wall time of the first handshakes and the process's RSS
 * (VmRSS from /proc) idle before, one second after the last handshake, and its VmHWM.
 *
 *   node_modules/.bin/node bench/on-demand-memory.ts [--names 1000]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { startAsk } from '../test/helpers/ask.ts';
import { handshake, localRoot, loopbackGlobals } from '../test/helpers/clients.ts';
import { freePorts } from '../test/helpers/ports.ts';
import { startServer } from '../test/helpers/run-server.ts';

const { values } = parseArgs({ options: { names: { type: 'string', default: '1000' } } });
const count = Number(values.names);
if (!Number.isInteger(count) || count < 1 || count > 20_000) throw new Error(`--names: expected 1..20000, got ${values.names}`);

async function status(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

const ask = await startAsk(() => true);
const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
try {
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort }, `\tlocal_certs\n\ton_demand_tls {\n\t\task ${ask.url}\n\t}\n`)}
https:// {
	tls {
		on_demand
	}
	respond "od"
}
`);
  try {
    const pid = server.child.pid as number;
    // One name first: the local CA is created, the code paths compiled.
    const first = await handshake(httpsPort, 'warmup.mem.test');
    if (!first.ok) throw new Error(`warm-up handshake: ${first.error}`);
    const root = (await localRoot(server)).pem;
    await delay(1_000);
    const idle = await status(pid);
    const start = performance.now();
    let next = 0;
    let failed = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < count) {
        const name = `n${String(next++).padStart(5, '0')}.mem.test`;
        const h = await handshake(httpsPort, name, root, 30_000);
        if (!h.authorized) failed++;
      }
    }));
    const wallS = (performance.now() - start) / 1000;
    await delay(1_000);
    const loaded = await status(pid);
    console.log(`${count} on-demand names (local CA, 8 at a time): ${wallS.toFixed(1)} s, ${failed} failed first handshakes`);
    console.log(`VmRSS idle with 1 certificate: ${idle.rss.toFixed(1)} MiB; with ${count + 1}: ${loaded.rss.toFixed(1)} MiB; VmHWM ${loaded.hwm.toFixed(1)} MiB`);
    console.log(`(RSS with N − idle) ÷ N: ${(((loaded.rss - idle.rss) * 1024) / count).toFixed(1)} KiB per certificate`);
  } finally {
    await server.close();
  }
} finally {
  await ask.close();
}
