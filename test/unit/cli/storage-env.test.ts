/**
 * MY_SERVER_STORAGE against the Proxyfile's `storage`: the Proxyfile wins (as Caddy's `storage`
 * wins over XDG_DATA_HOME), the variable only moves the default folder, and a start where the
 * variable is outranked says so, naming both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storageEnvNotice, storageSpecFor } from '../../../src/app/setup.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { runCli } from '../../helpers/cli.ts';

async function globals(option: string): Promise<Awaited<ReturnType<typeof parseConfig>>['globals']> {
  return (await parseConfig(`{\n${option}\n}\nexample.com {\n\trespond "a"\n}\n`, { filename: '/etc/my-server/Proxyfile', env: {} })).globals;
}

test('the Proxyfile storage wins over MY_SERVER_STORAGE; the variable replaces the default folder only', async () => {
  const env = { MY_SERVER_STORAGE: '/data' };
  assert.deepEqual(storageSpecFor(await globals('storage redis redis://:secret@cache:6379/2'), env), { kind: 'redis', url: 'redis://:secret@cache:6379/2', prefix: 'my-server' });
  assert.deepEqual(storageSpecFor(await globals('storage file_system /srv/certs'), env), { kind: 'file', path: '/srv/certs' });
  assert.deepEqual(storageSpecFor(await globals('admin off'), env), { kind: 'file', path: '/data' });
  // Empty counts as unset.
  assert.notDeepEqual(storageSpecFor(await globals('admin off'), { MY_SERVER_STORAGE: '' }), { kind: 'file', path: '' });
});

test('the notice names the variable and the Proxyfile setting, never a Redis password', async () => {
  const env = { MY_SERVER_STORAGE: '/data' };
  assert.equal(
    storageEnvNotice(await globals('storage redis redis://:secret@cache:6379/2'), env),
    'MY_SERVER_STORAGE=/data is ignored: the Proxyfile\'s "storage redis redis://cache:6379/2" takes precedence (unset MY_SERVER_STORAGE to silence this)',
  );
  assert.match(storageEnvNotice(await globals('storage file_system /srv/certs'), env) ?? '', /MY_SERVER_STORAGE=\/data is ignored: the Proxyfile's "storage file_system \/srv\/certs" takes precedence/);
  assert.equal(storageEnvNotice(await globals('admin off'), env), undefined, 'no storage option: the variable is used, nothing to say');
  assert.equal(storageEnvNotice(await globals('storage file_system /data'), env), undefined, 'both agree');
  assert.equal(storageEnvNotice(await globals('storage file_system /srv/certs'), {}), undefined);
});

test('certs root with both set uses the Proxyfile storage and warns at start', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-storage-env-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'Proxyfile');
  await writeFile(file, `{\n\tadmin off\n\tstorage file_system ${join(dir, 'proxyfile-storage')}\n}\nlocalhost {\n\trespond "a"\n}\n`);
  const ran = await runCli(['certs', 'root', '--config', file], { env: { MY_SERVER_STORAGE: join(dir, 'env-storage') } });
  assert.equal(ran.code, 0, ran.stderr);
  assert.match(ran.stdout, /-----BEGIN CERTIFICATE-----/);
  await access(join(dir, 'proxyfile-storage'));
  assert.deepEqual((await readdir(dir)).sort(), ['Proxyfile', 'proxyfile-storage']);
  const warning = ran.stderr.split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as { level: string; msg: string }) : undefined)).find((l) => l?.msg.startsWith('MY_SERVER_STORAGE='));
  assert.deepEqual(warning && { level: warning.level, msg: warning.msg }, {
    level: 'warn',
    msg: `MY_SERVER_STORAGE=${join(dir, 'env-storage')} is ignored: the Proxyfile's "storage file_system ${join(dir, 'proxyfile-storage')}" takes precedence (unset MY_SERVER_STORAGE to silence this)`,
  }, ran.stderr);
});
