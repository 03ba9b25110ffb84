/**
 * `my-server validate` (the real CLI) on a Proxyfile with placeholders it does not know: the
 * header_up block of corpus case 41 (matrix-docker-ansible-deploy), which uses {tls_protocol} and
 * {proto}. Caddy leaves both as written; validate accepts the file and warns at each one's place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';

const CASE_41 = `matrix.example.com {
  handle {
        reverse_proxy localhost:81  {
               header_up X-Forwarded-Port {http.request.port}
               header_up X-Forwarded-TlsProto {tls_protocol}
               header_up X-Forwarded-TlsCipher {tls_cipher}
               header_up X-Forwarded-HttpsProto {proto}
        }
  }
}
`;

test('validate prints a warning with FILE:LINE:COL for each unknown placeholder and exits 0', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-validate-'));
  try {
    const file = join(dir, 'Caddyfile');
    await writeFile(file, CASE_41);
    const r = await runCli(['validate', '--config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trim().split('\n'), [
      `${file}:5:47: warning: unknown placeholder {tls_protocol} (left as written, as Caddy does)`,
      `${file}:7:49: warning: unknown placeholder {proto} (left as written, as Caddy does)`,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('validate --strict fails on the same warnings (exit 1, each named at FILE:LINE:COL) and passes a file without any', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-validate-'));
  try {
    const file = join(dir, 'Caddyfile');
    await writeFile(file, CASE_41);
    const r = await runCli(['validate', '--strict', '--config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:47: warning: unknown placeholder \\{tls_protocol\\}`));
    await writeFile(file, CASE_41.replace('{tls_protocol}', '{tls_version}').replace('{proto}', '{scheme}'));
    const clean = await runCli(['validate', '--strict', '--config', file]);
    assert.deepEqual([clean.code, clean.stderr], [0, '']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('validate reports a typo after a `$` (`${htp.request.host}`) but not a regexp group of a replacement', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-validate-'));
  try {
    const file = join(dir, 'Caddyfile');
    await writeFile(file, 'example.com {\n\turi path_regexp ^/(\\w+) /${1}/x\n\trespond "a ${htp.request.host}"\n}\n');
    const r = await runCli(['validate', '--config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stderr.trim().split('\n'), [`${file}:3:14: warning: unknown placeholder {htp.request.host} (left as written, as Caddy does)`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
