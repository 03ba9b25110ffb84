/**
 * Issue 14's acceptance: "A fresh machine follows docs/quick-start.md's systemd path with the single
 * executable (a test runs the unit's ExecStart line and ExecReload line as written, against
 * Pebble): reload with a broken Proxyfile exits non-zero and the old config keeps serving."
 *
 * The single executable is built from a clean copy of the sources (scripts/build.mjs sea). The
 * unit's paths (/usr/local/bin/my-server, /etc/my-server, /etc/default/my-server,
 * /var/lib/my-server) are mapped to temp dirs; its Environment= and EnvironmentFile= are applied as
 * systemd does. The Proxyfile is quick-start.md's staging one, with Pebble in place of Let's
 * Encrypt staging (its HTTPS root trusted with `acme_ca_root`, the documented option), loopback
 * ports and an admin address of its own. A real ACME certificate must be issued and served, and an
 * app behind it answer; then ExecReload as written: a broken Proxyfile exits non-zero with the
 * file's position and the old config (and certificate) keeps serving; a good one succeeds and is
 * in place when ExecReload returns. Then step 4, production by a reload that changes `acme_ca` (a
 * second Pebble): its certificate is served within a bounded time, with every request on the way
 * answered; `certs list` as quick-start.md runs it shows one certificate per CA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collect } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startPebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NAME = 'app.quick-start.test';

function unitValues(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => (m[1] ?? '').trim());
}

/** Runs to completion (killed after timeoutMs); never rejects on a non-zero exit. */
async function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(file, args, { cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe'] });
  return collect(child, timeoutMs);
}

/** GET https://NAME/ on 127.0.0.1:port, trusting only `ca`; the served certificate's serial too. */
function getVia(port: number, ca: string): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername: NAME, headers: { host: NAME }, path: '/', ca, agent: false, timeout: 10_000 }, (res) => {
      const serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

test('quick-start systemd path: the unit\'s ExecStart runs the single executable against Pebble, a certificate is issued and served; ExecReload fails on a broken Proxyfile with the old config serving, succeeds on a good one, and moves to a production CA without a restart', { timeout: 300_000 }, async (t) => {
  const roots: string[] = [];
  const temp = async (prefix: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    roots.push(dir);
    return dir;
  };
  t.after(() => Promise.all(roots.map((d) => rm(d, { recursive: true, force: true }))));

  // The single executable, built as quick-start.md says (`node scripts/build.mjs sea`), from a clean copy.
  const copy = await temp('my-server-qs-build-');
  for (const entry of ['src', 'scripts', 'package.json', 'tsconfig.json']) await cp(join(REPO, entry), join(copy, entry), { recursive: true });
  await symlink(join(REPO, 'node_modules'), join(copy, 'node_modules'));
  const built = await run(process.execPath, [join(copy, 'scripts', 'build.mjs'), 'sea'], process.env, 180_000);
  assert.equal(built.code, 0, `build sea:\n${built.stdout}\n${built.stderr}`);

  const [httpPort, httpsPort, adminPort] = (await freePorts(3)) as [number, number, number];
  // Two CAs, as quick-start.md's staging then production: `pebble`, then `production`.
  const [pebble, production] = await Promise.all([startPebble({ httpPort, tlsPort: httpsPort }), startPebble({ httpPort, tlsPort: httpsPort })]);
  t.after(() => Promise.all([pebble.stop(), production.stop()]));

  // The app my-server fronts (quick-start.md: 127.0.0.1:3000).
  const app = http.createServer((req, res) => res.end(`app saw ${req.headers.host ?? ''}`));
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => app.close(() => resolve())));
  const appPort = (app.address() as AddressInfo).port;

  // quick-start.md step 3's Proxyfile, Pebble standing in for Let's Encrypt staging.
  const doc = await readFile(join(REPO, 'docs', 'quick-start.md'), 'utf8');
  const staging = /## 3\.[\s\S]*?```caddyfile\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(staging !== undefined && staging.includes('acme_ca https://acme-staging-v02.api.letsencrypt.org/directory'), 'quick-start.md step 3 has the staging Proxyfile');
  // Trusting both Pebbles' HTTPS listeners, so that going to production changes `acme_ca` only.
  const listenerRoots = join(await temp('my-server-qs-roots-'), 'pebble-roots.pem');
  await writeFile(listenerRoots, pebble.caPem + production.caPem);
  const proxyfile = (site: string, ca = pebble.directoryUrl): string =>
    staging
      .replace('acme_ca https://acme-staging-v02.api.letsencrypt.org/directory', [
        `acme_ca ${ca}`,
        `\tacme_ca_root ${listenerRoots}`,
        `\thttp_port ${httpPort}`,
        `\thttps_port ${httpsPort}`,
        '\tdefault_bind 127.0.0.1',
        `\tadmin 127.0.0.1:${adminPort}`,
      ].join('\n'))
      .replace('email you@example.com', 'email {$ACME_EMAIL}')
      .replace(/app\.example\.com \{[\s\S]*\}\s*$/, `${NAME} {\n${site}\n}\n`);
  const good = proxyfile(`\treverse_proxy 127.0.0.1:${appPort}`);
  assert.match(good, new RegExp(`acme_ca ${pebble.directoryUrl.replace(/[.]/g, '\\.')}`));

  // The unit, its paths mapped to temp dirs.
  const unit = await readFile(join(REPO, 'systemd', 'my-server.service'), 'utf8');
  const etc = await temp('my-server-qs-etc-');
  const state = await temp('my-server-qs-state-');
  const defaults = join(await temp('my-server-qs-default-'), 'my-server');
  const paths: [string, string][] = [
    ['/usr/local/bin/my-server', join(copy, 'dist', 'my-server')],
    ['/etc/default/my-server', defaults],
    ['/etc/my-server', etc],
    ['/var/lib/my-server', state],
  ];
  const map = (word: string): string => {
    if (!word.startsWith('/')) return word;
    const hit = paths.find(([from]) => word === from || word.startsWith(`${from}/`));
    assert.ok(hit, `the unit uses ${word}, which the test does not map`);
    return hit[1] + word.slice(hit[0].length);
  };
  // No system Node.js on PATH matters: the single executable carries its own.
  const env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', HOME: state };
  for (const pair of unitValues(unit, 'Environment')) {
    const [k = '', v = ''] = pair.split(/=(.*)/s);
    env[k] = map(v);
  }
  await writeFile(defaults, 'ACME_EMAIL=ops@example.test\n', { mode: 0o600 });
  for (const file of unitValues(unit, 'EnvironmentFile')) {
    for (const line of (await readFile(map(file.replace(/^-/, '')), 'utf8')).split('\n')) {
      const [k = '', v] = line.split(/=(.*)/s);
      if (k !== '' && v !== undefined) env[k] = v;
    }
  }
  await mkdir(etc, { recursive: true });
  await writeFile(join(etc, 'Proxyfile'), good);

  const [file = '', ...args] = (unitValues(unit, 'ExecStart')[0] ?? '').split(/\s+/).map(map);
  assert.equal(file, join(copy, 'dist', 'my-server'), 'ExecStart runs the single executable');
  const server = spawn(file, args, { cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  for (const s of [server.stdout, server.stderr]) s.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  });

  // A real ACME certificate from Pebble, served for the name, with the app behind it.
  const root = await pebble.rootPem();
  // An exit ends the wait at once.
  const died = new AbortController();
  void exited.then((s) => died.abort(new Error(`my-server exited (${s.code ?? s.signal}) before serving`)));
  const first = await eventually(`a certificate from Pebble served for ${NAME}`, 90_000, () => getVia(httpsPort, root), 250, died.signal).catch((err: unknown) => assert.fail(`${(err as Error).message}\n${output}`));
  assert.deepEqual({ status: first.status, body: first.body }, { status: 200, body: `app saw ${NAME}` });
  assert.ok(pebble.countIssued() >= 1, 'Pebble issued the certificate');
  assert.match(output, /certificate obtained/);

  // ExecReload as written, with the service's environment plus $MAINPID, as systemd runs it.
  const [reload = '', ...reloadArgs] = (unitValues(unit, 'ExecReload')[0] ?? '').split(/\s+/).map(map);
  const reloadEnv = { ...env, MAINPID: String(server.pid) };
  const replace = async (text: string): Promise<void> => {
    await writeFile(join(etc, 'Proxyfile.new'), text);
    await rename(join(etc, 'Proxyfile.new'), join(etc, 'Proxyfile'));
  };

  await replace(proxyfile(`\treverse_proxy 127.0.0.1:${appPort} {`));
  const rejected = await run(reload, reloadArgs, reloadEnv, 30_000);
  assert.notEqual(rejected.code, 0, `a broken Proxyfile must fail \`systemctl reload\`:\n${rejected.stdout}\n${rejected.stderr}`);
  assert.match(rejected.stderr, /Proxyfile:\d+:\d+: /, 'the reason names the file and position');
  const kept = await getVia(httpsPort, root);
  assert.deepEqual(kept, { status: 200, body: `app saw ${NAME}`, serial: first.serial }, 'the old config and certificate keep serving');

  await replace(proxyfile('\trespond "reloaded"'));
  const accepted = await run(reload, reloadArgs, reloadEnv, 30_000);
  assert.equal(accepted.code, 0, `ExecReload with a good Proxyfile:\n${accepted.stdout}\n${accepted.stderr}`);
  // ExecReload returned once the new config was in place: no polling.
  assert.deepEqual(await getVia(httpsPort, root), { status: 200, body: 'reloaded', serial: first.serial });

  // quick-start.md step 4: production by changing the CA and reloading (no restart). The staging
  // certificate serves until production's is ready: every handshake on the way succeeds.
  await replace(proxyfile('\trespond "production"', production.directoryUrl));
  const toProduction = await run(reload, reloadArgs, reloadEnv, 30_000);
  assert.equal(toProduction.code, 0, `ExecReload to production:\n${toProduction.stdout}\n${toProduction.stderr}`);
  const productionRoot = await production.rootPem();
  const started = Date.now();
  for (;;) {
    const stagingServed = await getVia(httpsPort, root).catch(() => undefined);
    const productionServed = stagingServed ? undefined : await getVia(httpsPort, productionRoot).catch(() => undefined);
    assert.ok(stagingServed ?? productionServed, `a request failed while going to production\n${output.slice(-4000)}`);
    if (productionServed) {
      assert.deepEqual({ status: productionServed.status, body: productionServed.body }, { status: 200, body: 'production' });
      break;
    }
    assert.ok(Date.now() - started < 60_000, `production's certificate not served within 60 s\n${output.slice(-6000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(production.countIssued() >= 1);

  // quick-start.md's `certs list` (as the service user, with the unit's storage): one row per CA.
  const listed = await run(file, ['certs', 'list', '--config', join(etc, 'Proxyfile')], env, 60_000);
  assert.equal(listed.code, 0, listed.stderr);
  for (const ca of [pebble, production]) {
    const folder = `certificates/127.0.0.1_${new URL(ca.directoryUrl).port}-dir/`;
    assert.match(listed.stdout, new RegExp(`^${NAME.replace(/\./g, '\\.')}\\s+.*Pebble.*${folder.replace(/\./g, '\\.')}`, 'm'), listed.stdout);
  }

  server.kill('SIGTERM');
  const stopped = await exited;
  assert.equal(stopped.code, 0, `Restart=on-failure: a clean stop exits 0\n${output}`);
});
