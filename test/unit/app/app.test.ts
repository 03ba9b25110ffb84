/**
 * The App in-process: one reload queue for every config source (file watch, SIGHUP, admin API),
 * and --watch announcing when it is watching. Only plain-HTTP sites, so no certificates.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { App } from '../../../src/app.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { freePorts } from '../../helpers/ports.ts';
import { startFakeCa } from '../acme/fake-ca.ts';
import { installIssuer } from '../acme/fake-issuer.ts';

interface Line {
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A logger whose lines are kept, and a way to wait for one. */
function capture(): { log: pino.Logger; lines: Line[]; waitFor(msg: string | RegExp, count?: number): Promise<Line[]> } {
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as Line);
      for (const w of waiters) w();
      cb();
    },
  });
  const log = pino({ level: 'info' }, stream);
  const waitFor = (msg: string | RegExp, count = 1): Promise<Line[]> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
        if (found.length < count) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${count} log line(s) "${msg}" within 10 s; got: ${lines.map((l) => l.msg).join(' | ')}`));
      }, 10_000);
      waiters.add(check);
      check();
    });
  return { log, lines, waitFor };
}

interface Setup {
  readonly dir: string;
  readonly file: string;
  readonly httpPort: number;
  readonly adminPort: number;
  /** Proxyfile text with `n` plain-HTTP sites. */
  proxyfile(n: number): string;
}

async function setup(t: TestContext): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-app-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [httpPort, httpsPort, adminPort] = (await freePorts(3)) as [number, number, number];
  const proxyfile = (n: number): string =>
    `{\n\tadmin 127.0.0.1:${adminPort}\n\tstorage file_system ${join(dir, 'data')}\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n\tdefault_bind 127.0.0.1\n\tgrace_period 100ms\n}\n` +
    Array.from({ length: n }, (_, i) => `http://s${i}.test {\n\trespond "site ${i} of ${n}"\n}\n`).join('');
  const file = join(dir, 'Proxyfile');
  await writeFile(file, proxyfile(1));
  return { dir, file, httpPort, adminPort, proxyfile };
}

function request(port: number, method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('reloads from the admin API, the config file and reload() run one at a time, in arrival order', async (t) => {
  const s = await setup(t);
  const { log, waitFor } = capture();
  const app = new App(await loadConfig(s.file), { log, configFile: s.file });
  t.after(() => app.close());
  await app.start();
  await writeFile(s.file, s.proxyfile(3));
  const fromFile = app.reloadFromFile();
  const direct = app.reload(await loadConfig(s.file).then((c) => ({ ...c, sites: c.sites.slice(0, 2) })));
  const admin = request(s.adminPort, 'POST', '/load', { 'content-type': 'text/caddyfile' }, s.proxyfile(4));
  assert.deepEqual(await Promise.all([fromFile, direct, admin.then((r) => r.status)]), [undefined, undefined, 200]);
  const reloaded = await waitFor('config reloaded', 3);
  assert.deepEqual(reloaded.map((l) => l['sites']), [3, 2, 4], 'applied in arrival order, each after the one before');
  assert.equal(app.config.sites.length, 4);
  assert.equal((await request(s.httpPort, 'GET', '/', { host: 's3.test' })).body, 'site 3 of 4');
});

test('--watch logs "watching config for changes" once ready, and a save is reloaded', async (t) => {
  const s = await setup(t);
  const { log, waitFor } = capture();
  const app = new App(await loadConfig(s.file), { log, configFile: s.file, watch: true });
  t.after(() => app.close());
  await app.start();
  const [watching] = await waitFor('watching config for changes');
  assert.equal(watching?.['level'], 30, 'at info level');
  await writeFile(s.file, s.proxyfile(2));
  await waitFor('config reloaded');
  assert.equal(app.config.sites.length, 2);
  assert.equal((await request(s.httpPort, 'GET', '/', { host: 's1.test' })).body, 'site 1 of 2');
  // An invalid save is rejected and logged; the running config keeps serving.
  await writeFile(s.file, 'http://s0.test {\n\tnot_a_directive\n}\n');
  const [rejected] = await waitFor(/^reload rejected, keeping the running config: /);
  assert.match(rejected?.msg ?? '', /unknown directive "not_a_directive"/);
  assert.equal((await request(s.httpPort, 'GET', '/', { host: 's1.test' })).body, 'site 1 of 2');
});

test('without --watch nothing is watched and no watching line is logged', async (t) => {
  const s = await setup(t);
  const { log, lines } = capture();
  const app = new App(await loadConfig(s.file), { log, configFile: s.file });
  await app.start();
  await app.close();
  assert.equal(lines.filter((l) => l.msg === 'watching config for changes').length, 0);
});

test('close() during an issuance returns promptly and aborts it: the CA hears nothing more', async (t) => {
  const s = await setup(t);
  // A CA whose authorizations stay pending: the order polls until something stops it.
  const ca = await startFakeCa();
  t.after(() => ca.close());
  installIssuer(ca, { outcome: () => 'pending', authzRetryAfter: '1' });
  const text = s.proxyfile(0).replace('\tgrace_period 100ms\n', `\tgrace_period 100ms\n\tacme_ca ${ca.directoryUrl}\n`) + 'hang.example.com {\n\trespond "x"\n}\n';
  await writeFile(s.file, text);
  const { log } = capture();
  const app = new App(await loadConfig(s.file), { log, configFile: s.file });
  await app.start();
  const polling = (): number => ca.requests.filter((r) => r.path.startsWith('/authz/')).length;
  for (let i = 0; i < 200 && polling() < 2; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(polling() >= 2, 'the order is polling its authorization');
  const t0 = performance.now();
  await app.close();
  const elapsed = performance.now() - t0;
  assert.ok(elapsed < 3_000, `close() took ${Math.round(elapsed)} ms`);
  const seen = ca.requests.length;
  // Three poll intervals: an order left running would have polled again by now.
  await new Promise((r) => setTimeout(r, 3_000));
  assert.equal(ca.requests.length, seen, `requests after close(): ${ca.requests.slice(seen).map((r) => r.path).join(', ')}`);
});
