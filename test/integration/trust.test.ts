/**
 * `my-server trust` / `untrust` against a scratch copy of a Debian trust store and an NSS database,
 * never this machine's own: Debian's real update-ca-certificates runs through a wrapper that points
 * all its directories into a temp dir, and certutil works on a temp NSS database. A killed test
 * leaves nothing trusted; the temp dir is removed after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';

const UPDATE = '/usr/sbin/update-ca-certificates';

function certutil(args: readonly string[]): { code: number | null; out: string } {
  const r = spawnSync('certutil', args, { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The base64 body of a PEM, as it appears in a bundle. */
const body = (pem: string): string => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

test('trust puts the local root into the system bundle and NSS; untrust takes it out', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-trust-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = { conf: join(dir, 'ca-certificates.conf'), share: join(dir, 'share'), local: join(dir, 'local'), etc: join(dir, 'etc-ssl-certs'), hooks: join(dir, 'hooks'), nss: join(dir, 'nssdb'), home: join(dir, 'home') };
  for (const d of [store.share, store.local, store.etc, store.hooks, store.nss, store.home]) await mkdir(d);
  // Not empty: with an empty file update-ca-certificates rebuilds every link each time (--fresh).
  await writeFile(store.conf, '# scratch store of test/integration/trust.test.ts\n');
  // A store always holds other CAs (update-ca-certificates keeps a stale bundle when none is left).
  const other = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'other.key'), '-out', join(store.local, 'other-ca.crt'), '-subj', '/CN=Other CA', '-days', '1'], { encoding: 'utf8' });
  assert.equal(other.status, 0, other.stderr);
  const wrapper = join(dir, 'update-ca-certificates');
  await writeFile(wrapper, `#!/bin/sh\nexec ${UPDATE} --certsconf ${store.conf} --certsdir ${store.share} --localcertsdir ${store.local} --etccertsdir ${store.etc} --hooksdir ${store.hooks} "$@"\n`, { mode: 0o755 });
  assert.equal(spawnSync(wrapper, { encoding: 'utf8' }).status, 0, 'the scratch store builds before my-server touches it');
  assert.equal(certutil(['-N', '-d', `sql:${store.nss}`, '--empty-password']).code, 0);

  const proxyfile = join(dir, 'Proxyfile');
  await writeFile(proxyfile, `{\n\tadmin off\n\tstorage file_system ${join(dir, 'data')}\n}\nlocalhost {\n\trespond "a"\n}\n`);
  // HOME in the temp dir too: the default NSS databases (~/.pki/nssdb) are never this machine's.
  const env = { HOME: store.home, MY_SERVER_STORAGE: '' };
  const flags = ['--config', proxyfile, '--certs-dir', store.local, '--update-command', wrapper, '--nss-db', store.nss];
  const root = await runCli(['certs', 'root', '--config', proxyfile], { env });
  assert.equal(root.code, 0, root.stderr);
  const nickname = `my-server local CA root ${new X509Certificate(root.stdout).fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase()}`;

  const trusted = await runCli(['trust', ...flags], { env });
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.equal(
    trusted.stdout,
    `trusted: ${join(store.local, 'my-server-root.crt')} (${wrapper}: 1 added, 0 removed; done.)\ntrusted: NSS sql:${store.nss} as "${nickname}"\n`,
  );
  assert.equal(await readFile(join(store.local, 'my-server-root.crt'), 'utf8'), root.stdout);
  const bundle = await readFile(join(store.etc, 'ca-certificates.crt'), 'utf8');
  assert.ok(body(bundle).includes(body(root.stdout)), 'the root is in the rebuilt bundle');
  const listed = certutil(['-L', '-d', `sql:${store.nss}`]);
  assert.match(listed.out, new RegExp(`${nickname}\\s+C,,`), listed.out);

  // Again: still one copy, one NSS entry.
  const again = await runCli(['trust', ...flags], { env });
  assert.equal(again.code, 0, again.stderr);
  assert.equal([...certutil(['-L', '-d', `sql:${store.nss}`]).out.matchAll(new RegExp(nickname, 'g'))].length, 1);

  const untrusted = await runCli(['untrust', ...flags], { env });
  assert.equal(untrusted.code, 0, untrusted.stderr);
  assert.match(untrusted.stdout, new RegExp(`^untrusted: removed ${join(store.local, 'my-server-root.crt')} \\(`));
  assert.match(untrusted.stdout, new RegExp(`untrusted: NSS sql:${store.nss} "${nickname}" removed\\n$`));
  await assert.rejects(access(join(store.local, 'my-server-root.crt')));
  const after = body(await readFile(join(store.etc, 'ca-certificates.crt'), 'utf8'));
  assert.ok(!after.includes(body(root.stdout)), 'the root left the bundle');
  assert.ok(after.includes(body(await readFile(join(store.local, 'other-ca.crt'), 'utf8'))), 'the other CA stays');
  assert.ok(!certutil(['-L', '-d', `sql:${store.nss}`]).out.includes(nickname));

  // Nothing left to remove is not an error.
  const twice = await runCli(['untrust', ...flags], { env });
  assert.equal(twice.code, 0, twice.stderr);
  assert.equal(twice.stdout, `not in the system store: no ${join(store.local, 'my-server-root.crt')}\nnot in NSS sql:${store.nss}\n`);
});

test('trust names what is missing: a certs dir that is not there, an update command that is not there', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-trust-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const proxyfile = join(dir, 'Proxyfile');
  await writeFile(proxyfile, `{\n\tadmin off\n\tstorage file_system ${join(dir, 'data')}\n}\n`);
  const env = { HOME: join(dir, 'home'), MY_SERVER_STORAGE: '' };
  const noDir = await runCli(['trust', '--config', proxyfile, '--certs-dir', join(dir, 'nope'), '--update-command', '/bin/true'], { env });
  assert.equal(noDir.code, 1);
  assert.match(noDir.stderr, new RegExp(`system trust store: ${join(dir, 'nope')} is not a directory`));
  await mkdir(join(dir, 'certs'));
  const noCmd = await runCli(['trust', '--config', proxyfile, '--certs-dir', join(dir, 'certs'), '--update-command', join(dir, 'no-such-update')], { env });
  assert.equal(noCmd.code, 1);
  assert.match(noCmd.stderr, /no-such-update was not found or is not executable/);
  const failing = await runCli(['trust', '--config', proxyfile, '--certs-dir', join(dir, 'certs'), '--update-command', '/bin/false'], { env });
  assert.equal(failing.code, 1);
  assert.match(failing.stderr, /\/bin\/false exited with 1/);
});
