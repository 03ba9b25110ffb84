/**
 * A reload that changes the CA (issue 14; docs/quick-start.md: Let's Encrypt staging first, then
 * production by changing `acme_ca` and reloading). Real CAs: the local CA (`tls internal`), then
 * ACME with one Pebble, then a second Pebble (another directory URL), then back to the first and to
 * the local CA. After each `my-server reload` a real TLS handshake must verify against the new
 * CA's root within a bounded time, every handshake meanwhile must succeed (the old certificate
 * serves until the new one is ready), and a CA whose certificate is still in storage serves it
 * again without a new order (Pebble's order count).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { handshake } from '../helpers/clients.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer, type ServerEnv } from '../helpers/run-server.ts';

const NAME = 'ca-change.test';

test('reloads that change the CA serve the new CA\'s certificate in bounded time, never nothing; a CA switched back to serves from storage without an order', { timeout: 240_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  // Both Pebbles validate against this instance's ports.
  const [a, b] = await Promise.all([startPebble({ httpPort, tlsPort: httpsPort }), startPebble({ httpPort, tlsPort: httpsPort })]);
  t.after(() => Promise.all([a.stop(), b.stop()]));

  // One acme_ca_root file trusting both Pebbles' HTTPS listeners: only `acme_ca` changes below,
  // as when a user moves from Let's Encrypt staging to production.
  const rootsDir = await mkdtemp(join(tmpdir(), 'my-server-ca-change-'));
  t.after(() => rm(rootsDir, { recursive: true, force: true }));
  const caRootsFile = join(rootsDir, 'pebble-listener-roots.pem');
  await writeFile(caRootsFile, a.caPem + b.caPem);
  const proxyfile = (env: ServerEnv, ca: Pebble, internal: boolean): string => `{
	acme_ca ${ca.directoryUrl}
	acme_ca_root ${caRootsFile}
	email ops@example.test
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	storage file ${env.storage}
	admin 127.0.0.1:${env.adminPort}
}

${NAME} {
${internal ? '\ttls internal\n' : ''}	respond "ok"
}
`;
  const server = await startServer((env) => proxyfile(env, a, true), { env: { MY_SERVER_LOG_LEVEL: 'debug' } });
  t.after(() => server.close());

  const roots = {
    local: '',
    a: await a.rootPem(),
    b: await b.rootPem(),
  };
  /** Which CA's root verifies the certificate served now; undefined when none does or the handshake fails. */
  const servedBy = async (): Promise<{ ok: boolean; by?: keyof typeof roots }> => {
    let ok = false;
    for (const by of ['local', 'a', 'b'] as const) {
      if (roots[by] === '') continue;
      const h = await handshake(httpsPort, NAME, roots[by], 10_000);
      ok ||= h.ok;
      if (h.authorized) return { ok, by };
    }
    return { ok };
  };
  /** Polls until `want` serves; every handshake on the way must succeed (the old CA's certificate counts). */
  const switchedTo = async (want: keyof typeof roots, timeoutMs: number, failures: { allowed: boolean }): Promise<number> => {
    const started = Date.now();
    for (;;) {
      const s = await servedBy();
      if (!failures.allowed) assert.ok(s.ok, `a handshake for ${NAME} failed while switching to ${want}\n${server.output().slice(-4000)}`);
      if (s.by === want) return Date.now() - started;
      if (Date.now() - started > timeoutMs) assert.fail(`not served by ${want} within ${timeoutMs} ms (served by ${s.by ?? 'none'})\n${server.output().slice(-6000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const reload = async (ca: Pebble, internal: boolean): Promise<void> => {
    await server.rewrite(proxyfile(server, ca, internal));
    const r = await runCli(['reload', '--config', server.file, '--address', `127.0.0.1:${server.adminPort}`]);
    assert.equal(r.code, 0, `reload: ${r.stderr}`);
  };

  // The local CA first (`tls internal`); its root is in storage once it has issued.
  for (let i = 0; i < 150 && roots.local === ''; i++) {
    roots.local = await readFile(join(server.storage, 'pki', 'local', 'root.crt'), 'utf8').catch(() => '');
    if (roots.local === '') await new Promise((r) => setTimeout(r, 200));
  }
  assert.notEqual(roots.local, '', 'the local CA root in storage');
  await switchedTo('local', 30_000, { allowed: true });
  assert.equal(a.countOrders() + b.countOrders(), 0, 'the local CA asks no ACME server');

  // Local CA → ACME (Pebble A).
  await reload(a, false);
  const toA = await switchedTo('a', 60_000, { allowed: false });
  const ordersA = a.countOrders();
  assert.ok(ordersA >= 1);

  // Pebble A → Pebble B: another directory URL, as staging → production.
  await reload(b, false);
  const toB = await switchedTo('b', 60_000, { allowed: false });
  assert.ok(b.countOrders() >= 1);
  const ordersB = b.countOrders();

  // Back to A: its certificate is still valid in storage and serves without a new order.
  await reload(a, false);
  await switchedTo('a', 15_000, { allowed: false });
  assert.equal(a.countOrders(), ordersA, 'switching back to A makes no new order at A');

  // Back to the local CA: from storage too.
  await reload(a, true);
  await switchedTo('local', 15_000, { allowed: false });
  assert.equal(a.countOrders(), ordersA);
  assert.equal(b.countOrders(), ordersB);

  // What `certs list` shows: one certificate per CA, each under its own CA's storage folder.
  const list = await runCli(['certs', 'list', '--config', server.file]);
  assert.equal(list.code, 0, list.stderr);
  const rows = list.stdout.split('\n').filter((l) => l.startsWith(NAME));
  assert.equal(rows.length, 3, list.stdout);
  for (const folder of ['certificates/local/', `certificates/127.0.0.1_${new URL(a.directoryUrl).port}-dir/`, `certificates/127.0.0.1_${new URL(b.directoryUrl).port}-dir/`]) {
    assert.ok(rows.some((r) => r.includes(folder)), `${folder} in\n${list.stdout}`);
  }
  t.diagnostic(`switch to Pebble A took ${toA} ms, to Pebble B ${toB} ms`);
});
