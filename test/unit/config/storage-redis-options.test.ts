/**
 * `storage redis URL { prefix; timeout; lock_lease; tls_server_certs_path }`: each sub-option lands
 * in the typed globals and reaches the storage spec `run` opens; each wrong form is a
 * FILE:LINE:COL error at the token at fault.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, type GlobalOptions } from '../../../src/config/index.ts';
import { storageSpecFor } from '../../../src/app/setup.ts';

const SITE = '\nexample.com {\n\trespond ok\n}\n';

async function globals(body: string): Promise<GlobalOptions> {
  return (await parseConfig(`{\n${body}\n}\n${SITE}`, { filename: 'P', env: {} })).globals;
}

async function errorOf(body: string): Promise<string> {
  try {
    await globals(body);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n')[0] as string;
    throw err;
  }
  assert.fail(`expected a ConfigError for ${body}`);
}

test('storage redis sub-options reach the storage spec', async () => {
  const g = await globals('\tstorage redis rediss://app:secret@127.0.0.1:6380 {\n\t\tprefix p1\n\t\ttimeout 2s\n\t\tlock_lease 6s\n\t\ttls_server_certs_path /etc/redis/ca.pem\n\t}');
  assert.deepEqual(g.storage, {
    kind: 'redis',
    url: 'rediss://app:secret@127.0.0.1:6380',
    prefix: 'p1',
    timeoutMs: 2_000,
    lockLeaseMs: 6_000,
    tlsServerCertsPath: '/etc/redis/ca.pem',
  });
  assert.deepEqual(storageSpecFor(g, {}), {
    kind: 'redis',
    url: 'rediss://app:secret@127.0.0.1:6380',
    prefix: 'p1',
    timeoutMs: 2_000,
    lockTtlMs: 6_000,
    tlsCaFile: '/etc/redis/ca.pem',
  });
});

test('storage redis without a block keeps the defaults (prefix my-server, no other setting)', async () => {
  const g = await globals('\tstorage redis redis://127.0.0.1:6379');
  assert.deepEqual(g.storage, { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'my-server' });
});

test('wrong storage redis sub-options fail at the token at fault', async () => {
  const cases: { body: string; expect: string }[] = [
    { body: '\tstorage redis redis://h:1 {\n\t\tlock_lease 500ms\n\t}', expect: 'P:3:14: storage redis: lock_lease 500ms must be at least 1s' },
    { body: '\tstorage redis redis://h:1 {\n\t\ttimeout 10ms\n\t}', expect: 'P:3:11: storage redis: timeout 10ms must be between 100ms and 1m' },
    { body: '\tstorage redis redis://h:1 {\n\t\ttimeout soon\n\t}', expect: 'P:3:11: invalid duration "soon": use a number with a unit, as in 30s, 1m30s, 500ms, 2h or 1d' },
    { body: '\tstorage redis redis://h:1 {\n\t\ttls_server_certs_path /ca.pem\n\t}', expect: 'P:3:25: storage redis: tls_server_certs_path needs a rediss:// URL (TLS), not redis://' },
    { body: '\tstorage redis redis://h:1 {\n\t\ttls_insecure\n\t}', expect: 'P:3:3: unknown subdirective "tls_insecure" in storage redis' },
    { body: '\tstorage redis redis://h:1 {\n\t\tprefix a\n\t\tprefix b\n\t}', expect: 'P:4:3: prefix is already set' },
    { body: '\tstorage redis redis://h:1 {\n\t\ttimeout\n\t}', expect: 'P:3:3: timeout: missing argument (usage: timeout D)' },
  ];
  const got = [];
  for (const c of cases) got.push(await errorOf(c.body));
  assert.deepEqual(got, cases.map((c) => c.expect));
});
