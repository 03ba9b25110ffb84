/**
 * Server CPU per full TLS handshake, my-server against bare Node servers (the floor), in paired
 * runs: every candidate is started once, pinned to one CPU, and the handshake client
 * (bench/handshake-client.ts, pinned to the other CPU) runs against each in turn, round after
 * round, so the noise of a shared machine lands on all of them alike. CPU is the server's process
 * tree's user+system time from /proc over each run. Prints one line per run and the medians.
 *
 *   node bench/handshake-floor.ts [--rounds 5] [--seconds 5] [--concurrency 32] [--before DIR]
 *
 * Candidates: `tls` (tls.createServer, one certificate, ALPN h2/http1.1, the listener's cipher
 * policy), `h2` (http2.createSecureServer({ allowHTTP1 }) with Node's defaults), `my-server` (this
 * tree's src/main.ts with one `tls CERT KEY` site, as bench:proxy configures it), with
 * --before, `before` (the same from another checkout, e.g. `git archive` of an older commit with
 * node_modules linked), for before/after pairs, and `--products caddy,nginx` (the default; ''
 * for none): Caddy and nginx with the same certificate, configured as the proxy mode does (one
 * core, GOMAXPROCS=1, one worker), so the floors stand beside the products in one run.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createBenchCertificates } from './certs.ts';
import { Processes, runTool, treeStats, waitForPort } from './processes.ts';
import { CANDIDATES, NODE_FLAGS } from './candidates.ts';
import { sleep } from '../src/util/backoff.ts';
import { bareServerArgs } from './floors.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    before: { type: 'string' },
    only: { type: 'string' },
    floors: { type: 'string', default: 'tls=' },
    products: { type: 'string', default: 'caddy,nginx' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const SERVER_CPU = '1';
const CLIENT_CPU = '0';
const HOST = 'localhost';
const REPO = join(import.meta.dirname, '..');

/**
 * The bare TLS floor, with optional parts of what my-server does per connection, to price each:
 * `sni` (an SNICallback answering at once), `alpncb` (an ALPNCallback instead of a list), `gate`
 * (the raw socket read once, paused, the bytes unshifted, handed over in a microtask), `acceptor`
 * (a net.Server handing sockets to the TLS server), `h1` (the TLS socket handed to an http.Server),
 * `hto` (the TLS server's handshake timeout), `curves`, `noticket`.
 */
const FLOOR_TLS = `const tls = require('node:tls'); const net = require('node:net'); const http = require('node:http'); const fs = require('node:fs');
const [cert, key, port, feats = ''] = process.argv.slice(1);
const f = new Set(feats.split(','));
const ciphers = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256';
const base = { minVersion: 'TLSv1.2', ciphers, honorCipherOrder: true };
const ctxOpts = { ...base, cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
if (f.has('curves')) ctxOpts.ecdhCurve = 'X25519:prime256v1:secp384r1';
if (f.has('noticket')) ctxOpts.secureOptions = require('node:constants').SSL_OP_NO_TICKET;
const ctx = tls.createSecureContext(ctxOpts);
const opts = f.has('sni') ? { ...base, SNICallback: (n, cb) => cb(null, ctx) } : { ...ctxOpts };
if (f.has('alpncb')) opts.ALPNCallback = ({ protocols }) => protocols.includes('h2') ? 'h2' : protocols.includes('http/1.1') ? 'http/1.1' : undefined;
else opts.ALPNProtocols = ['h2', 'http/1.1'];
if (f.has('hto')) opts.handshakeTimeout = 10000;
const server = tls.createServer(opts);
const h1 = http.createServer((q, s) => s.end('ok')); h1.emit('listening');
server.on('secureConnection', (s) => { if (f.has('h1')) h1.emit('connection', s); else { s.on('error', () => {}); s.resume(); s.on('end', () => s.end()); } });
if (f.has('gate')) {
  net.createServer((socket) => {
    socket.on('error', () => {});
    const t = setTimeout(() => socket.destroy(), 10000);
    const onData = (chunk) => { socket.off('data', onData); socket.pause(); socket.unshift(chunk); clearTimeout(t); queueMicrotask(() => server.emit('connection', socket)); };
    socket.on('data', onData);
  }).listen(Number(port), '127.0.0.1');
} else if (f.has('acceptor')) {
  net.createServer((socket) => server.emit('connection', socket)).listen(Number(port), '127.0.0.1');
} else server.listen(Number(port), '127.0.0.1');
`;

interface Candidate {
  readonly name: string;
  readonly port: number;
  pid?: number;
  readonly us: number[];
}

const dir = await mkdtemp(join(tmpdir(), 'hs-floor-'));
const certs = await createBenchCertificates(dir, HOST, 0);
const processes = new Processes();
const signal = new AbortController().signal;
const candidates: Candidate[] = [];
let port = 24_000 + Math.floor(Math.random() * 1000) * 4;

function add(name: string, p: number, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): void {
  if (values.only !== undefined && !values.only.split(',').includes(name)) return;
  const c: Candidate = { name, port: p, us: [] };
  const started = processes.start(name, command, args, { cpus: SERVER_CPU, env, logFile: join(dir, `${name}.log`) });
  c.pid = started.pid;
  candidates.push(c);
}

function proxyfile(p: number, httpPort: number): string {
  return `{\n\thttp_port ${httpPort}\n\thttps_port ${p}\n\tadmin off\n\tstorage file ${join(dir, `storage-${p}`)}\n\tlog {\n\t\tlevel error\n\t}\n}\n${HOST} {\n\ttls ${certs.main.certFile} ${certs.main.keyFile}\n\trespond "ok"\n}\n`;
}

async function addMyServer(name: string, root: string): Promise<void> {
  const p = port++;
  const config = join(dir, `${name}.Proxyfile`);
  await writeFile(config, proxyfile(p, port++));
  add(name, p, process.execPath, [...NODE_FLAGS, join(root, 'src', 'main.ts'), 'run', '--config', config]);
}

// --floors 'tls=,tls-sni=sni,tls-gate=gate': a name and the parts it adds (FLOOR_TLS).
for (const spec of values.floors.split(',').filter((x) => x !== '')) {
  const [name = spec, features = ''] = spec.split('=');
  const p = port++;
  add(name, p, process.execPath, ['-e', FLOOR_TLS, certs.main.certFile, certs.main.keyFile, String(p), features.replaceAll('+', ',')]);
}
{
  const p = port++;
  // The bench's bare Node server (bench/floors.ts), on a fixed port.
  add('h2', p, process.execPath, bareServerArgs(certs.main.certFile, certs.main.keyFile, undefined, p));
}
await addMyServer('my-server', REPO);
if (values.before !== undefined) await addMyServer('before', values.before);
for (const id of values.products.split(',').filter((x) => x !== '')) {
  const product = CANDIDATES.find((c) => c.id === id && id !== 'my-server');
  if (product === undefined) throw new Error(`--products: unknown product ${id} (caddy, nginx)`);
  const p = port++;
  const productDir = join(dir, id);
  await mkdir(productDir, { recursive: true });
  // upstreamPort: never dialled, the handshake client sends no request.
  const launch = await product.prepare({ dir: productDir, httpPort: port++, httpsPort: p, upstreamPort: 9, sites: [certs.main], mode: 'one-core' });
  add(id, p, launch.command, launch.args, launch.env);
}

try {
  for (const c of candidates) {
    if (!(await waitForPort(c.port, 30_000, signal))) throw new Error(`${c.name} did not listen on ${c.port} (log: ${join(dir, `${c.name}.log`)})`);
  }
  const client = join(import.meta.dirname, 'handshake-client.ts');
  const once = async (c: Candidate, s: number): Promise<{ handshakes: number; cpu: number }> => {
    const before = await treeStats(c.pid!);
    const r = await runTool(process.execPath, [client, String(c.port), HOST, String(concurrency), String(s), 'X25519'], { cpus: CLIENT_CPU, timeoutMs: (s + 20) * 1000, signal });
    const after = await treeStats(c.pid!);
    const parsed = JSON.parse(r.stdout) as { handshakes: number; errors: number; resumed: number };
    if (parsed.errors > 0 || parsed.resumed > 0) process.stdout.write(`  ${c.name}: ${parsed.errors} errors, ${parsed.resumed} resumed\n`);
    return { handshakes: parsed.handshakes, cpu: after.cpuSeconds - before.cpuSeconds };
  };
  // Warm-up: JIT and the context cache, not measured.
  for (const c of candidates) await once(c, 2);
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round, so no candidate always follows the same one.
    const order = candidates.map((_, i) => candidates[(i + round) % candidates.length]!);
    const line: string[] = [];
    for (const c of order) {
      const { handshakes, cpu } = await once(c, seconds);
      const us = (cpu * 1e6) / handshakes;
      c.us.push(us);
      line.push(`${c.name} ${us.toFixed(0)} µs (${handshakes} hs, ${cpu.toFixed(2)} s)`);
      await sleep(200, signal);
    }
    process.stdout.write(`round ${round + 1}: ${line.join(' | ')}\n`);
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  process.stdout.write(`medians: ${candidates.map((c) => `${c.name} ${median(c.us).toFixed(0)} µs/handshake`).join(' | ')}\n`);
} finally {
  await processes.stopAll();
}
