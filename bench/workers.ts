/**
 * `workers N` against one process, and Caddy with GOMAXPROCS 1 against 2: HTTPS/1.1 (wrk) and
 * HTTP/2 (h2load) on loopback, a static 1 KiB `respond`, each server's own CPU time read from /proc
 * (its whole process tree: the primary and its workers). Prints requests/s, requests per
 * CPU-second, and what the second core added (2-worker throughput / 1-worker throughput).
 *
 *     node bench/workers.ts [--seconds 10] [--rounds 1]
 *
 * Unpinned: the load generator shares the host's cores with the server, so on a small host the
 * scaling figure is a floor, and requests per CPU-second is the figure that compares like with like.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseH2load, parseWrk } from './load.ts';
import { Processes, runTool, treeStats, waitForPort } from './processes.ts';
import { freePort } from './measure.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '1' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');
const BODY = 'x'.repeat(1024);

interface Row {
  readonly server: string;
  readonly round: number;
  readonly h1: number;
  readonly h1PerCpu: number;
  readonly h2: number;
  readonly h2PerCpu: number;
}

async function measure(name: string, round: number, start: (dir: string, port: number) => Promise<{ pid: number; stop: () => Promise<void> }>): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-workers-'));
  const port = await freePort();
  const signal = AbortSignal.timeout((seconds * 2 + 120) * 1000);
  const server = await start(dir, port);
  try {
    if (!(await waitForPort(port, 60_000, signal))) throw new Error(`${name} did not listen on ${port}`);
    // The first handshakes wait for the certificate; then every worker has it.
    for (let i = 0; i < 60; i++) {
      const probe = await runTool('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${port}/`], { timeoutMs: 10_000, signal });
      if (probe.stdout === '200') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const url = `https://localhost:${port}/`;
    const run = async (tool: string, args: string[]): Promise<{ rps: number; cpu: number }> => {
      const before = await treeStats(server.pid);
      const started = Date.now();
      const out = await runTool(tool, [...args, url], { timeoutMs: (seconds + 30) * 1000, signal });
      const elapsed = (Date.now() - started) / 1000;
      const after = await treeStats(server.pid);
      const parsed = tool === 'wrk' ? parseWrk(out.stdout) : parseH2load(out.stdout);
      if ('invalid' in parsed && parsed.invalid) throw new Error(`${name} ${tool}: ${parsed.invalid}`);
      const cpu = after.cpuSeconds - before.cpuSeconds;
      return { rps: parsed.requestsPerSecond, cpu: cpu / elapsed };
    };
    const h1 = await run('wrk', ['-t1', '-c64', `-d${seconds}s`, '--latency']);
    const h2 = await run('h2load', ['-t1', '-c8', '-m8', `-D${seconds}`, '--warm-up-time=1']);
    return { server: name, round, h1: h1.rps, h1PerCpu: h1.rps / h1.cpu, h2: h2.rps, h2PerCpu: h2.rps / h2.cpu };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const processes = new Processes();
process.on('exit', () => processes.killAllNow());

function myServer(workers: number) {
  return async (dir: string, port: number): Promise<{ pid: number; stop: () => Promise<void> }> => {
    const file = join(dir, 'Proxyfile');
    await writeFile(file, `{
	https_port ${port}
	http_port ${await freePort()}
	admin off
	storage file ${join(dir, 'data')}
	workers ${workers}
	log {
		level error
	}
}
localhost {
	tls internal
	respond "${BODY}"
}
`);
    const started = processes.start(`my-server-${workers}`, process.execPath, ['--max-semi-space-size=8', MAIN, 'run', '--config', file], { logFile: join(tmpdir(), `bench-workers-my-server-${workers}.log`), cwd: dir });
    return { pid: started.pid, stop: () => processes.stop(started, 5_000) };
  };
}

function caddy(procs: number) {
  return async (dir: string, port: number): Promise<{ pid: number; stop: () => Promise<void> }> => {
    const file = join(dir, 'Caddyfile');
    await writeFile(file, `{
	https_port ${port}
	http_port ${await freePort()}
	admin off
	skip_install_trust
	storage file_system ${join(dir, 'data')}
	log {
		level ERROR
	}
}
localhost {
	tls internal
	respond "${BODY}"
}
`);
    const started = processes.start(`caddy-${procs}`, 'caddy', ['run', '--config', file, '--adapter', 'caddyfile'], {
      logFile: join(tmpdir(), `bench-workers-caddy-${procs}.log`),
      cwd: dir,
      env: { ...process.env, GOMAXPROCS: String(procs), HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    });
    return { pid: started.pid, stop: () => processes.stop(started, 5_000) };
  };
}

const rows: Row[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    for (const [name, start] of [
      ['my-server workers 1', myServer(1)],
      ['my-server workers 2', myServer(2)],
      ['caddy GOMAXPROCS 1', caddy(1)],
      ['caddy GOMAXPROCS 2', caddy(2)],
    ] as const) {
      const row = await measure(name, round, start);
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  }
} finally {
  await processes.stopAll();
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en');
process.stdout.write('| server | round | HTTPS/1.1 req/s | req per CPU-s | HTTP/2 req/s | req per CPU-s |\n|---|---:|---:|---:|---:|---:|\n');
for (const r of rows) process.stdout.write(`| ${r.server} | ${r.round} | ${fmt(r.h1)} | ${fmt(r.h1PerCpu)} | ${fmt(r.h2)} | ${fmt(r.h2PerCpu)} |\n`);
for (const base of ['my-server workers', 'caddy GOMAXPROCS']) {
  for (let round = 1; round <= rounds; round++) {
    const one = rows.find((r) => r.server === `${base} 1` && r.round === round);
    const two = rows.find((r) => r.server === `${base} 2` && r.round === round);
    if (one && two) process.stdout.write(`${base} 2 vs 1, round ${round}: HTTPS/1.1 ×${(two.h1 / one.h1).toFixed(2)}, HTTP/2 ×${(two.h2 / one.h2).toFixed(2)} (throughput added by the second core)\n`);
  }
}
