/**
 * The real Caddy binary (Debian's caddy, 2.6.2) as a reference for differential tests, and the
 * echo upstream both Caddy and my-server proxy to in those tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `caddy`'s path and `caddy version`'s first word; throws naming the install script when absent. */
export async function caddyBinary(): Promise<{ path: string; version: string }> {
  const found = await run('sh', ['-c', 'command -v caddy']).catch(() => undefined);
  if (found === undefined || found.stdout.trim() === '') {
    throw new Error('caddy is not installed: scripts/install-test-deps.sh installs the Debian package (Caddy 2.6.2)');
  }
  const path = found.stdout.trim();
  const version = (await run(path, ['version'])).stdout.trim().split(/\s+/)[0] ?? '';
  return { path, version };
}

/** The ports and extras of caddyGlobals(). */
export interface CaddyGlobalOptions {
  readonly http: number;
  readonly https: number;
  /** Whole lines, each ending in "\n", added inside the block (e.g. "\tlocal_certs\n"). */
  readonly extra?: string;
}

/**
 * A global options block that keeps a test Caddy to itself: no admin listener (nothing to collide
 * with), the automatic HTTP and HTTPS ports on test ports, every listener on loopback, and the local
 * CA never installed into the system trust store (`skip_install_trust`: Caddy otherwise tries to).
 */
export function caddyGlobals(o: CaddyGlobalOptions): string {
  return `{
	admin off
	http_port ${o.http}
	https_port ${o.https}
	default_bind 127.0.0.1
	skip_install_trust
${o.extra ?? ''}}
`;
}

/** A `caddy run` child process on a Caddyfile in its own temp dir. */
export interface RunningCaddy {
  readonly dir: string;
  readonly child: ChildProcess;
  /** Caddy logs to stderr (JSON lines). */
  output(): string;
  /** SIGTERM, then SIGKILL after timeoutMs; removes the temp dir. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Writes `caddyfile` to `<tmp>/Caddyfile` and runs `caddy run --adapter caddyfile` on it with HOME
 * and XDG_DATA_HOME/XDG_CONFIG_HOME in the temp dir, so its storage (local CA, certificates) and
 * autosaved config stay there. Resolves once Caddy logs "serving initial configuration" (written
 * after every listener is bound) and every pattern of `alsoWaitFor` has matched its output (Caddy
 * obtains certificates in the background, so an HTTPS site is only ready once it logs "certificate
 * obtained successfully"); rejects with Caddy's output if it exits first or takes longer than
 * readyTimeoutMs.
 */
export async function startCaddy(
  caddyfile: string,
  options: { readyTimeoutMs?: number; binary?: string; alsoWaitFor?: readonly RegExp[] } = {},
): Promise<RunningCaddy> {
  const dir = await mkdtemp(join(tmpdir(), 'caddy-ref-'));
  const file = join(dir, 'Caddyfile');
  await writeFile(file, caddyfile);
  const child = spawn(options.binary ?? 'caddy', ['run', '--config', file, '--adapter', 'caddyfile'], {
    cwd: dir,
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => {
    child.once('error', () => resolve());
    child.once('close', () => resolve());
  });
  let done = false;
  void exited.then(() => (done = true));
  let removed = false;
  const close = async (timeoutMs = 10_000): Promise<void> => {
    if (!done) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    }
    if (!removed) {
      removed = true;
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`caddy did not serve within ${options.readyTimeoutMs ?? 20_000} ms`)), options.readyTimeoutMs ?? 20_000);
      const check = (): void => {
        if (out.includes('"serving initial configuration"') && (options.alsoWaitFor ?? []).every((re) => re.test(out))) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stderr.on('data', check);
      child.stdout.on('data', check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error('caddy exited before serving'));
      });
    });
  } catch (err) {
    await close();
    throw new Error(`starting caddy: ${(err as Error).message}\n${out}`, { cause: err });
  }
  return { dir, child, output: () => out, close };
}

/** What the echo upstream received, as it reports it in its JSON body. */
export interface EchoReport {
  readonly method: string;
  readonly url: string;
  /** Header fields in the order received, names as sent (rawHeaders pairs). */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
}

export interface EchoUpstream {
  /** `127.0.0.1:PORT`, for `reverse_proxy`. */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * The response header fields the echo upstream always sends besides Content-Type, for header_down
 * and `header` tests to act on.
 */
export const ECHO_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'X-Echo': 'yes',
  'X-Upstream-Remove': 'remove me',
  'X-Upstream-Replace': 'value-7',
  'X-Upstream-Default': 'from upstream',
};

/**
 * An HTTP/1.1 server on 127.0.0.1 that answers every request 200 with a JSON EchoReport of what
 * it received (method, target, raw header fields, body) plus ECHO_RESPONSE_HEADERS: one upstream
 * shared by Caddy and my-server, so a difference in what they forward shows in the body.
 */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: [string, string][] = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i] ?? '', req.rawHeaders[i + 1] ?? '']);
      const report: EchoReport = { method: req.method ?? '', url: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8') };
      res.writeHead(200, { 'Content-Type': 'application/json', ...ECHO_RESPONSE_HEADERS }).end(JSON.stringify(report));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
