/**
 * Clients for end-to-end tests of `my-server run`: raw HTTP/1.1 (nothing normalises the target),
 * node:http, TLS handshakes, curl and the admin API's /load. None of them throws on a refusal or an
 * error status: the test asserts on what came back.
 */
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { eventually } from './eventually.ts';
import { globalOptions, type RunningServer, type ServerEnv } from './run-server.ts';

const execFileP = promisify(execFile);

/** The headers of a WebSocket upgrade request (RFC 6455 §4.1), after Host. */
export const UPGRADE_HEADERS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

export interface RawReply {
  readonly status: number;
  readonly head: string;
  /** Whether the server closed the connection; false when the reply was cut off by the timeout. */
  readonly closed: boolean;
}

/**
 * Writes `text` as is (nothing normalises the target) and reads until the server closes the
 * connection or `timeoutMs` passes. Never rejects; status 0 when nothing came back.
 */
export function rawRequest(port: number, text: string, timeoutMs = 3_000, host = '127.0.0.1'): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    let data = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const head = data.split('\r\n\r\n', 1)[0] ?? '';
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(text));
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

/** A GET with `Connection: close` (so rawRequest returns when the answer is complete). */
export function rawGet(port: number, target: string, host: string, extra = ''): Promise<RawReply> {
  return rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);
}

export function headerOf(head: string, name: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(line.indexOf(':') + 1).trim();
}

/** A plain GET; the body as text. Rejects on network errors. */
export function get(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, signal: AbortSignal.timeout(5_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export interface Handshake {
  readonly ok: boolean;
  readonly authorized: boolean;
  readonly subjectAltName?: string;
  readonly error?: string;
}

/** One TLS handshake with SNI `servername`; verifies against `ca` when given. Never rejects. */
export function handshake(port: number, servername: string, ca?: string, timeoutMs = 15_000): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], ...(ca !== undefined ? { ca } : { rejectUnauthorized: false }) });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, authorized: false, error: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const san = socket.getPeerCertificate().subjectaltname;
      socket.end();
      resolve({
        ok: true,
        authorized: socket.authorized,
        ...(san !== undefined ? { subjectAltName: san } : {}),
        ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}),
      });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, authorized: false, error: err.message });
    });
  });
}

/** Polls until a handshake for `servername` verifies against `ca` (certificates are obtained in the background). */
export async function verifiedHandshake(port: number, servername: string, ca: string, timeoutMs = 15_000): Promise<void> {
  await eventually(`a verified handshake for ${servername}`, timeoutMs, async () => ((await handshake(port, servername, ca)).authorized ? true : undefined), 250);
}

/** curl -sS ARGS; never rejects (code is curl's exit code). */
export async function curl(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP('curl', ['-sS', ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The local CA's root, once the server has created it. */
export async function localRoot(env: ServerEnv): Promise<{ file: string; pem: string }> {
  const file = join(env.storage, 'pki', 'local', 'root.crt');
  await eventually('the local CA root in storage', 15_000, () => access(file).then(() => true));
  return { file, pem: await readFile(file, 'utf8') };
}

/** Whether a new TCP connection to host:port is refused. */
export function refuses(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** POST /load of the admin API with a Proxyfile: its status and body. */
export function postLoad(server: RunningServer, proxyfile: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.adminUrl}/load`, { method: 'POST', agent: false, headers: { 'content-type': 'text/caddyfile' }, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(proxyfile);
  });
}

/** Whether the server has exited, readable synchronously in an assertion. */
export function trackExit(server: RunningServer): () => boolean {
  let exited = false;
  void server.exited.then(() => (exited = true));
  return () => exited;
}

/** Global options for loopback-only instances with a 2 s grace period, then `extra` lines. */
export function loopbackGlobals(env: ServerEnv, ports: { http: number; https: number }, extra = ''): string {
  return globalOptions(env, { ...ports, loopback: true, gracePeriod: '2s' }, extra);
}
