/**
 * Placeholders against the real Caddy 2.6.2 (Debian's `caddy`): the same Caddyfile site, in front
 * of the same recording upstream, gets the same request through Caddy and through `my-server run`;
 * the header_up values the upstream receives must be equal. Where my-server departs from Caddy on
 * purpose, the table says so and expects ours.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../helpers/ports.ts';
import { globalOptions, startServer, type RunningServer } from '../helpers/run-server.ts';

/** [placeholder as written, what differs from Caddy 2.6.2 (absent: nothing)]. */
const PLACEHOLDERS: readonly (readonly [string, string?])[] = [
  ['{host}'],
  ['{hostport}'],
  ['{port}'],
  ['{uri}'],
  ['{path}'],
  ['{dir}'],
  ['{file}'],
  ['{file.base}'],
  ['{file.ext}'],
  ['{query}'],
  ['{query.k}'],
  ['{query.none}'],
  ['{method}'],
  ['{scheme}'],
  ['{remote_host}'],
  ['{header.X-In}'],
  ['{http.request.header.x-in}'],
  ['{cookie.c}'],
  ['{labels.0}'],
  ['{labels.1}'],
  ['{path.0}'],
  ['{path.1}'],
  ['{http.request.uri.path.file.base}'],
  ['{upstream_hostport}'],
  ['{http.reverse_proxy.upstream.hostport}'],
  ['{env.DIFF_PLACEHOLDER}'],
  ['{time.now.year}'],
  ['{nope}'],
  ['{tls_protocol}'],
  ['{proto}'],
  // Caddy 2.6.2 leaves a known name without a value as its long name; ours is empty.
  ['{tls_version}', 'Caddy 2.6.2 sends "{http.request.tls.version}" on plain HTTP; my-server sends ""'],
  ['{cookie.none}', 'Caddy 2.6.2 sends "{http.request.cookie.none}" for a missing cookie; my-server sends ""'],
];

function site(upstream: string): string {
  const lines = PLACEHOLDERS.map(([p], i) => `\t\theader_up X-P${i} "<${p}>"`);
  return `\treverse_proxy ${upstream} {\n${lines.join('\n')}\n\t}\n`;
}

let upstream: http.Server | undefined;
const received = new Map<string, IncomingHttpHeaders>();
let caddy: ChildProcess | undefined;
let caddyDir = '';
let caddyPort = 0;
let server: RunningServer | undefined;
let ourPort = 0;

before(async () => {
  upstream = http.createServer((req, res) => {
    received.set(String(req.headers['x-run']), req.headers);
    res.end('ok');
  });
  await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve));
  const up = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const [cPort, oHttp, oHttps] = await freePorts(3);
  caddyPort = cPort!;
  ourPort = oHttp!;

  caddyDir = await mkdtemp(join(tmpdir(), 'caddy-diff-'));
  const caddyfile = join(caddyDir, 'Caddyfile');
  await writeFile(caddyfile, `{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:${caddyPort} {\n${site(up)}}\n`);
  const env = { ...process.env, HOME: caddyDir, XDG_CONFIG_HOME: caddyDir, XDG_DATA_HOME: caddyDir, DIFF_PLACEHOLDER: 'runtime-env' };
  caddy = spawn('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`caddy did not start: ${log}`)), 30_000);
    caddy!.stderr!.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      if (log.includes('serving initial configuration')) {
        clearTimeout(timer);
        resolve();
      }
    });
    caddy!.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`caddy exited ${code}: ${log}`));
    });
  });

  server = await startServer(
    (e) => globalOptions(e, { http: ourPort, https: oHttps!, loopback: true }) + `http://127.0.0.1:${ourPort} {\n${site(up)}}\n`,
    { env: { DIFF_PLACEHOLDER: 'runtime-env' } },
  );
});

after(async () => {
  caddy?.kill('SIGKILL');
  await server?.close();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  if (caddyDir !== '') await rm(caddyDir, { recursive: true, force: true });
});

function send(port: number, run: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/dir/sub/page.tar.gz?k=v1&k=v2&z=1',
        headers: { 'x-run': run, 'x-in': 'in-value', cookie: 'a=1; c=cookie-value' },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('header_up placeholders reach the upstream as Caddy 2.6.2 sends them', async () => {
  await send(caddyPort, 'caddy');
  await send(ourPort, 'ours');
  const theirs = received.get('caddy');
  const ours = received.get('ours');
  assert.ok(theirs && ours, 'both requests reached the upstream');
  // Each server's own port appears in {hostport} and {port}: compare with it written as PORT.
  const norm = (v: unknown, port: number): string => String(v).replaceAll(String(port), 'PORT');
  PLACEHOLDERS.forEach(([p, differs], i) => {
    const c = norm(theirs[`x-p${i}`], caddyPort);
    const o = norm(ours[`x-p${i}`], ourPort);
    if (differs === undefined) {
      assert.equal(o, c, `${p}: my-server sends ${o}, Caddy ${c}`);
    } else {
      assert.notEqual(o, c, `${p}: ${differs}`);
      assert.equal(o, '<>', `${p}: ${differs}`);
    }
  });
});
