/**
 * `my-server certs renew`, end to end through the CLI against file storage and the local CA: a
 * renewal replaces the stored certificate with one for the same set of names. The other `certs`
 * commands are covered by certs-cli.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempProxyfile } from '../helpers/cli.ts';

// Old: renew obtained a certificate for the typed name only, dropping the others.
test('certs renew keeps every name of the stored certificate', { timeout: 60_000 }, async (t) => {
  const cfg = await tempProxyfile('');
  t.after(() => cfg.remove());
  const storage = join(cfg.dir, 'data');
  await writeFile(cfg.file, `{
	local_certs
	storage file ${storage}
	admin off
}
`);
  const certFile = join(storage, 'certificates', 'local', 'a.localhost', 'a.localhost.crt');
  // The outer environment must not redirect this storage (empty means unset).
  const env = { MY_SERVER_STORAGE: '' };
  const obtained = await runCli(['certs', 'obtain', 'a.localhost', 'b.localhost', '--config', cfg.file], { env, timeoutMs: 30_000 });
  assert.equal(obtained.code, 0, obtained.stderr);
  const before = new X509Certificate(await readFile(certFile));
  assert.equal(before.subjectAltName, 'DNS:a.localhost, DNS:b.localhost');
  const renewed = await runCli(['certs', 'renew', 'a.localhost', '--config', cfg.file], { env, timeoutMs: 30_000 });
  assert.equal(renewed.code, 0, renewed.stderr);
  const after = new X509Certificate(await readFile(certFile));
  assert.notEqual(after.serialNumber, before.serialNumber, 'a new certificate was stored');
  assert.deepEqual(after.subjectAltName?.split(', ').sort(), ['DNS:a.localhost', 'DNS:b.localhost']);
});
