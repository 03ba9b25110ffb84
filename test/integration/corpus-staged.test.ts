/**
 * Issue 11 acceptance: corpus Caddyfiles run as their authors meant them. Each file is read from
 * `../shared/caddyfile-corpus` and staged: host names get a test port, upstream names a local echo
 * server, roots a temp folder with the files the site would serve, and `local_certs` stands in for
 * the public CA. Then real `my-server run` serves it and curl asks what a browser would.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts } from '../helpers/ports.ts';
import { globalOptions, startServer, type RunningServer } from '../helpers/run-server.ts';

const execFileP = promisify(execFile);
const CORPUS = join(fileURLToPath(new URL('../../', import.meta.url)), '..', 'shared', 'caddyfile-corpus', 'caddyfiles');

let upstream: http.Server;
let upPort = 0;
const seen: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'ms-staged-'));

before(async () => {
  upstream = http.createServer((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    res.end(`upstream ${req.url}`);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upPort = (upstream.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** The text of the corpus case whose file name starts with `prefix` (`07-`). */
function corpus(prefix: string): string {
  const name = readdirSync(CORPUS).find((f) => f.startsWith(prefix));
  if (name === undefined) throw new Error(`corpus case ${prefix} is missing under ${CORPUS} (the corpus sits beside the clone)`);
  return readFileSync(join(CORPUS, name), 'utf8');
}

/** curl as a browser would ask: HTTPS names resolved to loopback, the local CA not verified. */
async function curl(url: string, extra: readonly string[] = []): Promise<{ status: number; head: string; body: string }> {
  const u = new URL(url);
  const { stdout } = await execFileP('curl', ['-sk', '-i', '--max-time', '10', '--resolve', `${u.hostname}:${u.port}:127.0.0.1`, ...extra, url], { maxBuffer: 8 * 1024 * 1024 });
  const at = stdout.indexOf('\r\n\r\n');
  const head = stdout.slice(0, at);
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)?.[1] ?? 0), head, body: stdout.slice(at + 4) };
}

const headerOf = (head: string, name: string): string | undefined =>
  head
    .split('\r\n')
    .find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    ?.slice(name.length + 1)
    .trim();

async function serve(text: string, https: number, http: number): Promise<RunningServer> {
  return startServer((env) => globalOptions(env, { http, https, loopback: true }, '\tlocal_certs\n') + text);
}

test("07 (Caddy's own default Caddyfile): the welcome page from root, 304 on revalidation", async () => {
  const root = join(dir, 'usr-share-caddy');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'index.html'), '<h1>Caddy works!</h1>');
  const [httpPort, httpsPort] = await freePorts(2);
  const text = corpus('07-').replace(':80 {', `:${httpPort} {`).replace('/usr/share/caddy', root);
  const server = await serve(text, httpsPort!, httpPort!);
  try {
    const first = await curl(`http://any.test:${httpPort}/`);
    assert.equal(first.status, 200);
    assert.equal(first.body, '<h1>Caddy works!</h1>');
    const etag = headerOf(first.head, 'etag');
    assert.ok(etag);
    assert.equal((await curl(`http://any.test:${httpPort}/`, ['-H', `If-None-Match: ${etag}`])).status, 304);
  } finally {
    await server.close();
  }
});

test('28 (SPA and API on one name): /api/* reaches the backend without its prefix, other paths the SPA', async () => {
  const root = join(dir, 'var-www');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<div id=app>');
  writeFileSync(join(root, 'assets', 'app.js'), 'boot()');
  const [httpPort, httpsPort] = await freePorts(2);
  const text = corpus('28-')
    .replace('https://hs-tms.ngfg.pt', `https://hs-tms.ngfg.pt:${httpsPort}`)
    .replace('backend:3000', `127.0.0.1:${upPort}`)
    .replace('/var/www', root);
  const server = await serve(text, httpsPort!, httpPort!);
  const base = `https://hs-tms.ngfg.pt:${httpsPort}`;
  try {
    assert.equal((await curl(`${base}/api/users?x=1`)).body, 'upstream /users?x=1');
    assert.equal((await curl(`${base}/assets/app.js`)).body, 'boot()');
    const deep = await curl(`${base}/orders/42/edit`);
    assert.equal(deep.status, 200);
    assert.equal(deep.body, '<div id=app>', 'a client-side route gets the SPA');
  } finally {
    await server.close();
  }
});

test('27 (Django + SPA): caching headers per kind of file, the SPA fallback, handle_errors 404, an admin path kept to private ranges', async () => {
  const front = join(dir, 'srv-frontend');
  const statics = join(dir, 'srv-static');
  mkdirSync(join(front, 'assets'), { recursive: true });
  mkdirSync(statics, { recursive: true });
  writeFileSync(join(front, 'index.html'), '<spa>');
  writeFileSync(join(front, 'assets', 'font.woff2'), 'font');
  writeFileSync(join(front, 'logo.png'), 'png');
  writeFileSync(join(statics, 'admin.css'), 'css');
  const [httpPort, httpsPort] = await freePorts(2);
  const text = corpus('27-')
    .replaceAll('{$WEB_HOSTNAME}', `web.example.test:${httpsPort}`)
    .replaceAll('{$API_HOSTNAME}', `api.example.test:${httpsPort}`)
    .replaceAll('{$ADMIN_ACCESS_ALLOWED_IP_RANGES}', '10.99.0.0/16')
    .replaceAll('api:8000', `127.0.0.1:${upPort}`)
    .replace('/srv/frontend', front)
    .replace('/srv/django_static/static', statics);
  const server = await serve(text, httpsPort!, httpPort!);
  const web = `https://web.example.test:${httpsPort}`;
  const api = `https://api.example.test:${httpsPort}`;
  try {
    const font = await curl(`${web}/assets/font.woff2`);
    assert.equal(font.body, 'font');
    assert.equal(headerOf(font.head, 'cache-control'), 'max-age=604800');
    assert.equal(headerOf((await curl(`${web}/logo.png`)).head, 'cache-control'), 'max-age=86400');
    const route = await curl(`${web}/settings/profile`);
    assert.equal(route.body, '<spa>');
    assert.equal(headerOf(route.head, 'cache-control'), 'no-cache');
    const missing = await curl(`${web}/missing.css`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body, 'Not found');
    assert.equal((await curl(`${api}/static/admin.css`)).body, 'css');
    // 127.0.0.1 is a private range: the admin is reachable from here, proxied to the API.
    assert.equal((await curl(`${api}/admin/login`)).body, 'upstream /admin/login');
    assert.equal((await curl(`${api}/v1/items`)).body, 'upstream /v1/items');
  } finally {
    await server.close();
  }
});

test('25 (a password on a Docker registry): 401 with the challenge without the password; the webhook log file is served', async () => {
  const registry = join(dir, 'opt-registry');
  mkdirSync(registry, { recursive: true });
  writeFileSync(join(registry, 'log.txt'), 'deployed');
  const [httpPort, httpsPort] = await freePorts(2);
  const text = corpus('25-')
    .replace('https://docker.01-edu.org', `https://docker.01-edu.org:${httpsPort}`)
    .replace('https://webhook.docker.01-edu.org', `https://webhook.docker.01-edu.org:${httpsPort}`)
    .replace('localhost:5000', `127.0.0.1:${upPort}`)
    .replace('localhost:8081', `127.0.0.1:${upPort}`)
    .replace('/opt/registry', registry);
  const server = await serve(text, httpsPort!, httpPort!);
  try {
    const denied = await curl(`https://docker.01-edu.org:${httpsPort}/v2/`);
    assert.equal(denied.status, 401);
    assert.match(headerOf(denied.head, 'www-authenticate') ?? '', /^Basic realm=/);
    assert.equal(headerOf(denied.head, 'strict-transport-security'), 'max-age=31536000;');
    assert.equal((await curl(`https://docker.01-edu.org:${httpsPort}/v2/`, ['-u', 'root:wrong'])).status, 401);
    assert.equal((await curl(`https://webhook.docker.01-edu.org:${httpsPort}/log.txt`)).body, 'deployed');
    assert.equal((await curl(`https://webhook.docker.01-edu.org:${httpsPort}/hook`)).body, 'upstream /hook');
  } finally {
    await server.close();
  }
});

test('08 (WordPress on php-fpm): pretty permalinks reach index.php with the original URI; static files get the immutable cache header', async () => {
  const { startPhpFpm } = await import('../helpers/php-fpm.ts');
  const fpm = await startPhpFpm();
  const root = join(dir, 'var-www-html');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'index.php'), '<?php echo "wp:" . $_SERVER["REQUEST_URI"] . ":" . $_SERVER["SCRIPT_NAME"];');
  writeFileSync(join(root, 'style.css'), 'body{}');
  const [httpPort, httpsPort] = await freePorts(2);
  const text = corpus('08-')
    // Its global block names Let's Encrypt's staging CA: the test's own global options replace it.
    .replace(/^\{[\s\S]*?\n\}\n/m, '')
    .replace('caddy.awsl.melvincv.com', `caddy.awsl.melvincv.com:${httpsPort}`)
    .replace('wordpress:9000', `127.0.0.1:${fpm.port}`)
    .replace('/var/www/html', root);
  const base = `https://caddy.awsl.melvincv.com:${httpsPort}`;
  let server: RunningServer | undefined;
  try {
    server = await serve(text, httpsPort!, httpPort!);
    const home = await curl(`${base}/`);
    // The home page: `{path}` for `/` is not taken as the root directory (a bug this test found).
    assert.equal(home.body, 'wp:/:/index.php', home.head);
    assert.equal((await curl(`${base}/2026/12/hello-world/?p=1`)).body, 'wp:/2026/12/hello-world/?p=1:/index.php');
    const css = await curl(`${base}/style.css`);
    assert.equal(css.body, 'body{}');
    assert.equal(headerOf(css.head, 'cache-control'), 'public, max-age=31536000, immutable');
  } finally {
    await server?.close();
    await fpm.stop();
  }
});

test('26 (dockerized PHP, snippets and env): health check, PHP through two php-fpm gateways in turn, the root through its symlink, static files compressed and revalidated', async () => {
  const { startPhpFpm } = await import('../helpers/php-fpm.ts');
  const fpm = await startPhpFpm();
  // The image's /var/www/html/public is a symlink to the release (resolve_root_symlink's purpose).
  const release = join(dir, 'release-26');
  const linked = join(dir, 'var-www-html-26');
  mkdirSync(join(release, 'public', 'css'), { recursive: true });
  mkdirSync(linked, { recursive: true });
  symlinkSync(join(release, 'public'), join(linked, 'public'));
  // fpm_get_status() names the pool that ran the script: "tcp" or "unix" (test/helpers/php-fpm.ts).
  writeFileSync(
    join(release, 'public', 'index.php'),
    '<?php echo fpm_get_status()["pool"], " ", $_SERVER["SCRIPT_FILENAME"], " ", $_SERVER["REQUEST_URI"];',
  );
  const css = `body { color: #333; }\n${'.x{margin:0}\n'.repeat(200)}`;
  writeFileSync(join(release, 'public', 'css', 'app.css'), css);
  const [httpPort, httpsPort] = await freePorts(2);
  const text = corpus('26-').replace('/var/www/html/public', join(linked, 'public'));
  const host = `php.example.test:${httpsPort}`;
  let server: RunningServer | undefined;
  try {
    // As the image runs it: the site and the gateways come from the environment; two gateways
    // (both php-fpm pools, TCP and unix socket) make lb_policy round_robin visible.
    server = await startServer((env) => globalOptions(env, { http: httpPort!, https: httpsPort!, loopback: true }) + text, {
      env: { HOSTNAME: host, PHP_FPM_GATEWAYS: `127.0.0.1:${fpm.port} unix/${fpm.socket}` },
    });
    const base = `https://${host}`;
    const health = await curl(`${base}/healthcheck`);
    assert.equal(health.status, 200);
    assert.equal(health.body, '');
    const pools = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const page = await curl(`${base}/users/${i}?tab=1`);
      assert.equal(page.status, 200, page.head);
      const [pool, script, uri] = page.body.split(' ');
      pools.add(pool ?? '');
      // resolve_root_symlink: PHP sees the release folder, not the link.
      assert.equal(script, join(realpathSync(release), 'public', 'index.php'));
      assert.equal(uri, `/users/${i}?tab=1`);
    }
    assert.deepEqual([...pools].sort(), ['tcp', 'unix'], 'round_robin uses both gateways');
    const plain = await curl(`${base}/css/app.css`);
    assert.equal(plain.body, css);
    const zipped = await curl(`${base}/css/app.css`, ['-H', 'Accept-Encoding: gzip']);
    assert.equal(headerOf(zipped.head, 'content-encoding'), 'gzip');
    assert.ok(Buffer.byteLength(zipped.body, 'latin1') < css.length / 4, 'compressed');
    const etag = headerOf(plain.head, 'etag');
    assert.ok(etag);
    assert.equal((await curl(`${base}/css/app.css`, ['-H', `If-None-Match: ${etag}`])).status, 304);
  } finally {
    await server?.close();
    await fpm.stop();
  }
});

test("34 (Laravel through an imported snippet with arguments): the front controller over php-fpm's unix socket, security headers, static files, nothing above public/", async () => {
  const { startPhpFpm } = await import('../helpers/php-fpm.ts');
  const fpm = await startPhpFpm();
  // The support files sit beside the Caddyfile (snippets/*, ../security.conf from a snippet).
  const stage = join(dir, 'stage-34');
  cpSync(join(CORPUS, '..', 'support', '34-laravel-snippet-args'), stage, { recursive: true });
  const snippet = join(stage, 'snippets', 'laravel-app.conf');
  writeFileSync(snippet, readFileSync(snippet, 'utf8').replace('unix//run/php/php8.3-fpm.sock', `unix/${fpm.socket}`));
  const app = join(dir, 'laravel-app');
  mkdirSync(join(app, 'public', 'js'), { recursive: true });
  writeFileSync(join(app, '.env'), 'APP_KEY=secret');
  writeFileSync(join(app, 'public', 'index.php'), '<?php header("X-Powered-By: Laravel"); echo "laravel ", $_SERVER["REQUEST_METHOD"], " ", $_SERVER["REQUEST_URI"], " ", $_SERVER["SCRIPT_NAME"], " ", file_get_contents("php://input");');
  writeFileSync(join(app, 'public', 'js', 'app.js'), 'window.app = 1;');
  const [httpPort, httpsPort] = await freePorts(2);
  const text = corpus('34-')
    .replace('import snippets/*', `import ${join(stage, 'snippets')}/*`)
    .replace('exmaple.com', `exmaple.com:${httpsPort}`)
    .replace('/var/www/html/laravel-app', app);
  const base = `https://exmaple.com:${httpsPort}`;
  let server: RunningServer | undefined;
  try {
    server = await serve(text, httpsPort!, httpPort!);
    const home = await curl(`${base}/`);
    assert.equal(home.status, 200, home.head);
    assert.equal(home.body, 'laravel GET / /index.php ');
    assert.equal(headerOf(home.head, 'x-powered-by'), 'Laravel');
    // security.conf, imported from inside the snippet with a path relative to the snippet file.
    assert.equal(headerOf(home.head, 'strict-transport-security'), 'max-age=31536000; includeSubDomains; preload');
    assert.equal(headerOf(home.head, 'x-frame-options'), 'SAMEORIGIN');
    assert.equal(headerOf(home.head, 'server'), undefined, '-Server removes it');
    const post = await curl(`${base}/api/orders?page=2`, ['-X', 'POST', '--data-binary', 'qty=3']);
    assert.equal(post.body, 'laravel POST /api/orders?page=2 /index.php qty=3');
    const js = await curl(`${base}/js/app.js`);
    assert.equal(js.body, 'window.app = 1;');
    assert.match(headerOf(js.head, 'content-type') ?? '', /^text\/javascript/);
    assert.equal(headerOf(js.head, 'x-content-type-options'), 'nosniff');
    // The app's secrets sit above public/: every way up lands on the front controller, never .env.
    for (const p of ['/../.env', '/%2e%2e/.env', '/..%2f.env', '/.env']) {
      const r = await curl(`${base}${p}`, ['--path-as-is']);
      assert.doesNotMatch(r.body, /APP_KEY/, p);
    }
  } finally {
    await server?.close();
    await fpm.stop();
  }
});
