/**
 * Redis storage over TLS (rediss://) with a password-protected default user and an ACL user that
 * may touch only its prefix: `my-server run` connects as that user over TLS, trusting a throwaway
 * CA given with tls_server_certs_path, keeps every key under its prefix, and the ways it can be
 * misconfigured (CA not given, wrong password, a prefix the ACL does not allow) fail with errors
 * that name the storage.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { handshake } from '../helpers/clients.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startControlledRedis, type ControlledRedis } from '../helpers/redis-control.ts';
import { startServer, type RunningServer } from '../helpers/run-server.ts';
import { createStorage } from '../../src/storage/index.ts';
import { MyServerError, describeError } from '../../src/errors.ts';

const execFileP = promisify(execFile);
const PREFIX = 'acl-p';
const ADMIN_AUTH = ['--no-auth-warning', '-a', 'adminpass'];

let dir: string;
let caFile: string;
let redis: ControlledRedis;

async function openssl(args: readonly string[]): Promise<void> {
  await execFileP('openssl', args, { cwd: dir, timeout: 30_000 });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'my-server-redis-tls-'));
  caFile = join(dir, 'ca.crt');
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=redis test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-keyout', 'ca.key', '-out', 'ca.crt']);
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr']);
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'ext.cnf', '-out', 'server.crt']);
  redis = await startControlledRedis({
    tls: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: caFile },
    // The default user needs a password; "app" may use every command, on its prefix's keys and channels only.
    args: ['--requirepass', 'adminpass', '--user', 'app', 'on', '>secret', `~${PREFIX}:*`, `&${PREFIX}:*`, '+@all'],
  });
});

after(async () => {
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('run on rediss:// as an ACL user: serves, keeps its keys under the prefix, connects as that user over TLS', { timeout: 60_000 }, async () => {
  const [http, https] = (await freePorts(2)) as [number, number];
  let server: RunningServer | undefined;
  try {
    server = await startServer((env) => `{
	http_port ${http}
	https_port ${https}
	default_bind 127.0.0.1
	admin 127.0.0.1:${env.adminPort}
	local_certs
	storage redis rediss://app:secret@127.0.0.1:${redis.tlsPort} {
		prefix ${PREFIX}
		tls_server_certs_path ${caFile}
	}
}
acl.test {
	respond "hi"
}
`);
    const h = await eventually('acl.test served', 30_000, async () => {
      const r = await handshake(https, 'acl.test', undefined, 10_000);
      return r.ok ? r : undefined;
    }, 200);
    assert.match(h.subjectAltName ?? '', /DNS:acl\.test/);
    // The password never reaches the log.
    assert.doesNotMatch(server.output(), /secret/);

    const keys = (await redis.cli(['--raw', 'keys', '*'], ADMIN_AUTH)).stdout.split('\n').filter((k) => k !== '');
    assert.ok(keys.some((k) => k.startsWith(`${PREFIX}:data:certificates/`)), `no certificate stored: ${keys.join(', ')}`);
    assert.deepEqual(keys.filter((k) => !k.startsWith(`${PREFIX}:`)), [], 'keys outside the prefix');

    // Every connection of the instance (commands and the change subscription) is "app", on the TLS port.
    const clients = (await redis.cli(['client', 'list'], ADMIN_AUTH)).stdout.split('\n').filter((l) => l.includes(`laddr=127.0.0.1:${redis.tlsPort}`));
    assert.ok(clients.length >= 2, `expected the command and subscription connections on the TLS port:\n${clients.join('\n')}`);
    for (const c of clients) assert.match(c, / user=app /);
    assert.doesNotMatch(server.output(), /subscribing to certificate changes .* failed/);
  } finally {
    await server?.close();
  }
});

async function storageError(url: string, o: { prefix?: string; ca?: boolean } = {}): Promise<MyServerError> {
  try {
    const s = await createStorage({ kind: 'redis', url, prefix: o.prefix ?? PREFIX, timeoutMs: 2_000, ...(o.ca === false ? {} : { tlsCaFile: caFile }) });
    try {
      await s.put('probe/key', 'x');
    } finally {
      await s.close();
    }
  } catch (err) {
    assert.ok(err instanceof MyServerError, `not a MyServerError: ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${url} (${JSON.stringify(o)}) to fail`);
}

test('misconfigured Redis TLS or ACL fails with an error naming the storage and the cause', { timeout: 60_000 }, async () => {
  const url = (auth: string) => `rediss://${auth}@127.0.0.1:${redis.tlsPort}`;

  const untrusted = await storageError(url('app:secret'), { ca: false });
  assert.equal(untrusted.code, 'MS_ERR_STORAGE');
  assert.match(describeError(untrusted), /connecting in redis:rediss:\/\/app:\*\*\*@127\.0\.0\.1:\d+ prefix "acl-p".*(self.signed|unable to verify|certificate)/i);

  const wrongPassword = await storageError(url('app:nope'));
  assert.match(describeError(wrongPassword), /WRONGPASS|invalid username-password/i);
  assert.doesNotMatch(describeError(wrongPassword), /nope/);

  // The ACL is what keeps "app" to its prefix: another prefix is refused by Redis.
  const outside = await storageError(url('app:secret'), { prefix: 'other' });
  assert.match(describeError(outside), /writing "probe\/key" in redis:.*prefix "other".*NOPERM/);
});
