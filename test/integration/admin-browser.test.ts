/**
 * The admin API against a real browser (issue 14): a page served from another loopback origin
 * (127.0.0.1, another port: a dev server, say) tries to replace the running config through headless
 * Chromium, with every request a page can make without the user: fetch() with CORS, fetch() in
 * no-cors mode (no preflight, the response opaque), and form POSTs. The admin API's Origin check
 * (admin/request-policy.ts) must refuse them all.
 *
 * The form POST to /reload is the one that would succeed without that check: it needs no
 * Content-Type, a form sends no preflight, and Chromium counts another port of the same host as
 * same-site (so Sec-Fetch-Site does not flag it). The Proxyfile on disk is changed first, so a
 * reload that got through would serve the new text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../helpers/ports.ts';
import { globalOptions, startServer, type ServerEnv } from '../helpers/run-server.ts';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** The attacker's page: each attempt in turn, then what it saw, POSTed to its own origin's /report. */
function attackPage(admin: string, evil: string): string {
  return `<!doctype html>
<html><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="load" method="POST" action="${admin}/load" enctype="text/plain" target="sink1"><input type="hidden" name="x" value="${evil.replaceAll('"', '&quot;')}"></form>
<form id="reload" method="POST" action="${admin}/reload" target="sink2"></form>
<script>
const results = {};
async function attempt(name, fn) {
  try { results[name] = await fn(); } catch (err) { results[name] = 'error: ' + err; }
}
function submit(id, frame) {
  return new Promise((resolve) => {
    const f = document.querySelector('iframe[name=' + frame + ']');
    f.addEventListener('load', () => resolve('submitted'), { once: true });
    document.getElementById(id).submit();
  });
}
(async () => {
  const evil = ${JSON.stringify(evil)};
  await attempt('corsLoad', async () => (await fetch('${admin}/load', { method: 'POST', headers: { 'Content-Type': 'text/caddyfile' }, body: evil })).status);
  await attempt('noCorsLoad', async () => (await fetch('${admin}/load', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/caddyfile' }, body: evil })).type);
  await attempt('noCorsReload', async () => (await fetch('${admin}/reload', { method: 'POST', mode: 'no-cors' })).type);
  await attempt('formLoad', () => submit('load', 'sink1'));
  await attempt('formReload', () => submit('reload', 'sink2'));
  await fetch('/report', { method: 'POST', body: JSON.stringify(results) });
})();
</script>
</body></html>`;
}

test('a page on another loopback origin cannot replace the config through the admin API from headless Chromium', { timeout: 120_000 }, async (t) => {
  const [httpPort, httpsPort, pagePort] = (await freePorts(3)) as [number, number, number];
  const site = (env: ServerEnv, text: string): string => `${globalOptions(env, { http: httpPort, https: httpsPort, loopback: true })}
http://127.0.0.1:${httpPort} {
	respond "${text}"
}
`;
  const server = await startServer((env) => site(env, 'original'));
  t.after(() => server.close());
  assert.equal((await get(`http://127.0.0.1:${httpPort}/`)).body, 'original');
  // What a reload from the file would now apply; the running config must not become it.
  await writeFile(server.file, site(server, 'replaced by reload'));
  const evil = site(server, 'replaced by load');
  const admin = `http://127.0.0.1:${server.adminPort}`;

  let report: (body: string) => void = () => undefined;
  const reported = new Promise<string>((resolve) => (report = resolve));
  const page = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/report') {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        res.end('ok');
        report(body);
      });
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(attackPage(admin, evil));
  });
  await new Promise<void>((resolve) => page.listen(pagePort, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    page.close(() => resolve());
    page.closeAllConnections();
  }));

  const profile = await mkdtemp(join(tmpdir(), 'my-server-chromium-'));
  t.after(() => rm(profile, { recursive: true, force: true }));
  const from = server.output().length;
  const chromium = spawn('chromium', [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
    // Loopback only: no update checks, sync or field trials reaching out.
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-field-trial-config',
    `--user-data-dir=${profile}`, `http://127.0.0.1:${pagePort}/`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let chromiumErr = '';
  chromium.stderr.setEncoding('utf8').on('data', (d: string) => (chromiumErr += d));
  const chromiumExited = new Promise<void>((resolve) => chromium.once('close', () => resolve()));
  t.after(async () => {
    if (chromium.exitCode === null && chromium.signalCode === null) chromium.kill('SIGKILL');
    await chromiumExited;
  });

  const timeout = AbortSignal.timeout(60_000);
  const body = await Promise.race([
    reported,
    new Promise<never>((_, reject) => timeout.addEventListener('abort', () => reject(new Error(`the page never reported\nchromium:\n${chromiumErr.slice(-3000)}`)))),
  ]);
  const results = JSON.parse(body) as Record<string, unknown>;
  // The page learns nothing: CORS blocks the response, no-cors ones are opaque.
  assert.match(String(results['corsLoad']), /^error: TypeError/, body);
  assert.equal(results['noCorsLoad'], 'opaque', body);
  assert.equal(results['formReload'], 'submitted', body);

  // The admin API saw the attempts and refused them by their Origin.
  const origin = `http://127.0.0.1:${pagePort}`;
  const log = await server.waitForOutput(/"url":"\/reload","msg":"admin API refused a request[\s\S]*"url":"\/reload","msg":"admin API refused a request/, 20_000, from);
  const refused = log.slice(from).split('\n').filter((l) => l.includes('admin API refused a request'));
  for (const line of refused) assert.match(line, new RegExp(`origin not allowed: ${origin.replaceAll('.', '\\.')}`));
  const paths = new Set(refused.map((l) => (JSON.parse(l) as { url: string }).url));
  assert.deepEqual([...paths].sort(), ['/load', '/reload'], 'both endpoints were tried and refused');
  assert.doesNotMatch(log.slice(from), /admin API: (loading|reloading) config done/);

  // And the running config is the one it started with.
  assert.equal((await get(`http://127.0.0.1:${httpPort}/`)).body, 'original');
  // The same form POST from the admin's own origin would have gone through: the refusal was the Origin.
  const ok = await fetch(`${admin}/reload`, { method: 'POST' });
  assert.equal(ok.status, 200);
  assert.equal((await get(`http://127.0.0.1:${httpPort}/`)).body, 'replaced by reload');
});
