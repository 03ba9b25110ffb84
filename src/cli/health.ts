/**
 * `my-server health`: a health check for containers (the image's HEALTHCHECK) and scripts, which
 * asks the running instance rather than trusting that its process exists.
 *
 * What it probes, in this order of choice:
 *   --url URL     GET URL; healthy on a 2xx or 3xx answer (as `curl -f`: the caller chose the URL).
 *   --address A   GET /health of the admin API at A (as `reload --address`); no config is read.
 *   the admin API GET /health of the config's `admin` address (default localhost:2019), which the
 *                 instance answers from its event loop: 200 is healthy.
 *   admin off     every listener the config opens (each site's protocol and port, and http_port
 *                 when there is an HTTPS site), on loopback (or the first default_bind address):
 *                 an HTTP listener must answer a HEAD request with a status line, whatever the
 *                 status (a 404 for an unknown Host is still a server that serves); an HTTPS
 *                 listener must answer a TLS ClientHello, with a handshake or a TLS alert (no
 *                 certificate yet is still a server that serves). A bare TCP connect would not
 *                 do: the kernel completes it from the backlog even when the process is stuck.
 * The config is the one `run` was given (--config, $MY_SERVER_CONFIG, ./Proxyfile): if that file
 * has changed and not been reloaded, the probe follows the file.
 * Exit 0 healthy, 1 not (Docker reads exactly these two; 2 stays a usage error).
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { listenersOf } from '../app/generation.ts';
import { loadConfig, type Config } from '../config/index.ts';
import { adminRequest, adminTarget, loopbackFor } from './admin-client.ts';
import { configPath, parse, usageError } from './usage.ts';

const HELP = `Usage: my-server health [--config FILE] [--address ADMIN] [--url URL] [--timeout SECONDS]

Exits 0 when the running instance answers, 1 when it does not (for a container HEALTHCHECK).
  --url URL          GET URL; healthy on 2xx/3xx (https: the certificate is not verified)
  --address ADMIN    GET /health of the admin API at ADMIN (host:port or unix//path)
  (no --url)         GET /health of FILE's admin API; with \`admin off\`, a probe of each listener
                     FILE opens: HTTP must answer a HEAD request, HTTPS a TLS ClientHello
  --timeout SECONDS  per probe (default 4, under the image HEALTHCHECK's --timeout of 5 s)
FILE defaults to ./Proxyfile (or $MY_SERVER_CONFIG), as for run.
`;

interface Probe {
  readonly what: string;
  run(timeoutMs: number): Promise<string | undefined>;
}

export async function healthCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, address: { type: 'string' }, url: { type: 'string' }, timeout: { type: 'string' } }, false);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const seconds = typeof values['timeout'] === 'string' ? Number(values['timeout']) : 4;
  if (!(seconds > 0 && seconds <= 300)) throw usageError(`--timeout ${JSON.stringify(values['timeout'])}: seconds between 0 and 300`);
  if (typeof values['url'] === 'string' && typeof values['address'] === 'string') throw usageError('give --url or --address, not both');
  const probes =
    typeof values['url'] === 'string'
      ? [urlProbe(values['url'])]
      : typeof values['address'] === 'string'
        ? [adminProbe(values['address'])]
        : probesFor(await loadConfig(configPath(values)));
  // All at once: one stuck listener costs one timeout, not one each.
  const failures = await Promise.all(probes.map(async (p) => [p.what, await p.run(seconds * 1000)] as const));
  const failed = failures.filter(([, why]) => why !== undefined);
  for (const [what, why] of failed) process.stderr.write(`my-server health: ${what}: ${why ?? ''}\n`);
  if (failed.length > 0) return 1;
  process.stdout.write(`healthy: ${probes.map((p) => p.what).join(', ')}\n`);
  return 0;
}

function urlProbe(raw: string): Probe {
  const url = URL.parse(raw);
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw usageError(`--url ${JSON.stringify(raw)}: an http:// or https:// URL`);
  return {
    what: url.href,
    run: (timeoutMs) =>
      request(url, { timeoutMs }).then((status) => (status >= 200 && status < 400 ? undefined : `answered ${status}`), reason),
  };
}

/** The admin API's /health, or with `admin off` each listener of the config. */
export function probesFor(config: Config): Probe[] {
  const admin = config.globals.admin;
  if (admin !== false) return [adminProbe(admin.address)];
  const listeners = listenersOf(config);
  if (listeners.length === 0) throw usageError('the config has "admin off" and no site, so there is nothing to probe: give --url');
  const host = loopbackFor(config.globals.defaultBind[0]);
  const names = config.sites.flatMap((s) => s.addresses.map((a) => a.host)).filter((h) => h !== '' && !h.includes('*'));
  const name = names.find((h) => net.isIP(h) === 0) ?? 'localhost';
  return listeners.map((l) => ({
    what: `${l.protocol} listener ${host.includes(':') ? `[${host}]` : host}:${l.port}`,
    run: (timeoutMs) => (l.protocol === 'http' ? httpAnswers(host, l.port, name, timeoutMs) : tlsAnswers(host, l.port, name, timeoutMs)),
  }));
}

function adminProbe(address: string): Probe {
  const target = adminTarget(address);
  return {
    what: `admin API ${address}`,
    run: (timeoutMs) =>
      adminRequest(target, { method: 'GET', path: '/health', timeoutMs }).then(({ status }) => (status === 200 ? undefined : `GET /health answered ${status}`), reason),
  };
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One GET of a user's URL without keep-alive; resolves with the status, rejects on a network error or the timeout. */
function request(url: URL, o: { timeoutMs: number }): Promise<number> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'GET',
        agent: false,
        timeout: o.timeoutMs,
        rejectUnauthorized: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function httpAnswers(host: string, port: number, name: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let head = '';
    const done = (why: string | undefined): void => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () => done(`no HTTP answer within ${timeoutMs} ms`));
    socket.on('connect', () => socket.write(`HEAD / HTTP/1.1\r\nHost: ${name}\r\nUser-Agent: my-server-health\r\nConnection: close\r\n\r\n`));
    socket.setEncoding('latin1').on('data', (d: string) => {
      head += d;
      if (/^HTTP\/1\.[01] \d{3}/.test(head)) done(undefined);
      else if (head.length > 16 || head.includes('\n')) done(`not an HTTP answer: ${JSON.stringify(head.slice(0, 40))}`);
    });
    socket.on('error', (err) => done(err.message));
    socket.on('end', () => done('closed without an answer'));
  });
}

function tlsAnswers(host: string, port: number, name: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, servername: name, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
    const done = (why: string | undefined): void => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () => done(`no TLS answer within ${timeoutMs} ms`));
    socket.on('secureConnect', () => done(undefined));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A TLS alert is the server answering (e.g. no certificate for the name yet): it is serving.
      if (typeof err.code === 'string' && /^ERR_SSL_.*ALERT/.test(err.code)) done(undefined);
      else done(err.message);
    });
  });
}
