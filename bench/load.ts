/**
 * The load generators and what is read from their output. Each runner returns its figures plus
 * the exact command line, so the report can print what was run. A run whose responses were not
 * all 2xx is flagged `invalid`: a proxy answering 502 quickly must not look fast.
 */
import { connect } from 'node:tls';
import { join } from 'node:path';
import { runTool } from './processes.ts';

export interface LoadTarget {
  readonly port: number;
  /** Host name in the URL: it resolves to 127.0.0.1 and is sent as SNI and Host. */
  readonly host: string;
  /** CPU list the load generator is pinned to. */
  readonly cpus: string;
  readonly signal: AbortSignal;
  /** Request path, `/` when undefined. */
  readonly path?: string;
}

export interface WrkResult {
  readonly command: string;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Why the figures cannot be trusted (non-2xx answers, socket errors, no output), if they can't. */
  readonly invalid?: string;
}

export interface H2loadResult {
  readonly command: string;
  /** The -D duration the rate was measured over. */
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly invalid?: string;
}

export interface HandshakeResult {
  readonly command: string;
  readonly handshakes: number;
  readonly resumed: number;
  readonly errors: number;
  readonly seconds: number;
  /** CPU seconds the client itself used: near `seconds` means the client, not the server, was the limit. */
  readonly clientCpuSeconds: number;
  /** Key exchange group and cipher suite of the first handshake, e.g. X25519MLKEM768. */
  readonly group?: string;
  readonly cipher?: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** wrk prints durations as "850.00us", "1.50ms", "1.02s", "2.00m". */
export function parseWrkDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match?.[1] || !match[2]) return Number.NaN;
  return Number(match[1]) * (UNIT_MS[match[2]] ?? Number.NaN);
}

export function parseWrk(output: string): Omit<WrkResult, 'command' | 'seconds'> {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output)?.[1];
  const p50 = /^\s+50%\s+(\S+)/m.exec(output)?.[1];
  const p99 = /^\s+99%\s+(\S+)/m.exec(output)?.[1];
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1];
  const socketErrors = /Socket errors:\s+connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errorCount = socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  let invalid: string | undefined;
  if (rps === undefined || p50 === undefined || p99 === undefined) invalid = 'no wrk figures in output';
  else if (non2xx !== undefined) invalid = `${non2xx} non-2xx/3xx responses`;
  // A few reads can fail when a server closes idle connections at the very end; more is a failure.
  else if (errorCount > 64) invalid = `${errorCount} socket errors`;
  return {
    requestsPerSecond: Number(rps ?? Number.NaN),
    p50Ms: parseWrkDuration(p50 ?? ''),
    p99Ms: parseWrkDuration(p99 ?? ''),
    ...(invalid === undefined ? {} : { invalid }),
  };
}

export function parseH2load(output: string): Omit<H2loadResult, 'command' | 'seconds'> {
  const rps = /^finished in [\d.]+\w*, ([\d.]+) req\/s/m.exec(output)?.[1];
  const requests = /^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/m.exec(output);
  const status = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(output);
  let invalid: string | undefined;
  if (rps === undefined || !requests) invalid = 'no h2load figures in output';
  else if (Number(requests[4]) + Number(requests[5]) > 0) invalid = `${requests[4]} failed, ${requests[5]} errored requests`;
  else if (status && Number(status[2]) + Number(status[3]) + Number(status[4]) > 0) invalid = 'non-2xx responses';
  else if (!/^Application protocol: h2$/m.test(output)) invalid = 'h2 was not negotiated';
  return { requestsPerSecond: Number(rps ?? Number.NaN), ...(invalid === undefined ? {} : { invalid }) };
}

function shellLine(args: readonly string[]): string {
  return args.map((a) => (/^[\w./:=,@%+-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

/** The URL the load tools request. */
function targetUrl(target: LoadTarget): string {
  return `https://${target.host}:${target.port}${target.path ?? '/'}`;
}

export async function runWrk(target: LoadTarget, seconds: number, connections = 64): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', targetUrl(target)];
  const result = await runTool('wrk', args, { cpus: target.cpus, timeoutMs: (seconds + 15) * 1000, signal: target.signal });
  const command = shellLine(['taskset', '-c', target.cpus, 'wrk', ...args]);
  const parsed = parseWrk(result.stdout);
  return { command, seconds, ...parsed, ...(result.code === 0 ? {} : { invalid: `wrk exited ${String(result.code)}: ${result.stderr.trim()}` }) };
}

export async function runH2load(target: LoadTarget, seconds: number, connections = 8, streams = 8): Promise<H2loadResult> {
  // 8 connections × 8 streams by default: the same 64 requests in flight as wrk's 64 connections.
  const args = ['-t1', `-c${connections}`, `-m${streams}`, `-D${seconds}`, '--warm-up-time=1', targetUrl(target)];
  const result = await runTool('h2load', args, { cpus: target.cpus, timeoutMs: (seconds + 15) * 1000, signal: target.signal });
  const command = shellLine(['taskset', '-c', target.cpus, 'h2load', ...args]);
  const parsed = parseH2load(result.stdout);
  return { command, seconds, ...parsed, ...(result.code === 0 ? {} : { invalid: `h2load exited ${String(result.code)}: ${result.stderr.trim()}` }) };
}

const HANDSHAKE_CLIENT = join(import.meta.dirname, 'handshake-client.ts');

export async function runHandshakes(target: LoadTarget, seconds: number, concurrency: number, groups: string): Promise<HandshakeResult | string> {
  const args = [HANDSHAKE_CLIENT, String(target.port), target.host, String(concurrency), String(seconds), groups];
  const result = await runTool(process.execPath, args, { cpus: target.cpus, timeoutMs: (seconds + 15) * 1000, signal: target.signal });
  const command = shellLine(['taskset', '-c', target.cpus, 'node', 'bench/handshake-client.ts', ...args.slice(1)]);
  try {
    const parsed = JSON.parse(result.stdout) as Omit<HandshakeResult, 'command' | 'clientCpuSeconds'> & { cpuSeconds: number };
    return { command, ...parsed, clientCpuSeconds: parsed.cpuSeconds };
  } catch {
    return `handshake client failed (${String(result.code)}): ${result.stderr.trim().slice(0, 300)}`;
  }
}

/**
 * One handshake per name, `concurrency` at a time, checking that the certificate served is the
 * one for that name (so a server that loaded only some of them is caught). Returns the names that
 * failed or got another name's certificate.
 */
export async function handshakeEach(
  port: number,
  names: readonly string[],
  concurrency: number,
  signal: AbortSignal,
  timeoutMs = 10_000,
  onFailure?: (name: string, reason: string) => void,
): Promise<string[]> {
  const failed: string[] = [];
  let next = 0;
  /** Undefined when the name got its own certificate, else why not. */
  const one = (name: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      // X25519 only, as the handshake load offers: the same key exchange for every server (see runHandshakes).
      const socket = connect({ port, host: '127.0.0.1', servername: name, rejectUnauthorized: false, minVersion: 'TLSv1.3', ecdhCurve: 'X25519' });
      let error = 'closed before the handshake completed';
      const timer = setTimeout(() => {
        error = `no handshake within ${timeoutMs} ms`;
        socket.destroy();
      }, timeoutMs);
      socket.once('secureConnect', () => {
        const subjectAltName = socket.getPeerCertificate().subjectaltname ?? '';
        socket.end();
        clearTimeout(timer);
        resolve(subjectAltName.split(', ').includes(`DNS:${name}`) ? undefined : `served a certificate for ${subjectAltName || 'no name'}`);
      });
      socket.on('data', () => undefined);
      socket.once('error', (err) => (error = err.message));
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(error);
      });
    });
  const worker = async (): Promise<void> => {
    while (next < names.length && !signal.aborted) {
      const name = names[next++];
      if (name === undefined) continue;
      const reason = await one(name);
      if (reason !== undefined) {
        failed.push(name);
        onFailure?.(name, reason);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failed;
}
