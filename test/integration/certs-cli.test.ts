/**
 * `my-server certs ...` against a real Pebble CA: the acceptance of the ACME issue. Each test
 * starts its own Pebble (and challtestsrv as DNS resolving every name to 127.0.0.1) and points
 * Pebble's validation ports at the my-server challenge listeners, or at a closed port to make a
 * challenge type unreachable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { startPebble, type Pebble, type PebbleOptions } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { collect, runCli, spawnCli, tempProxyfile } from '../helpers/cli.ts';

const execFileP = promisify(execFile);

interface Setup {
  pebble: Pebble;
  config: string;
  dir: string;
  storage: string;
  cleanup(): Promise<void>;
}

/**
 * Pebble validating http-01 on `http` and tls-alpn-01 on `tls` ('open' = the port my-server's
 * listener uses, 'closed' = a port where nothing listens).
 */
async function setup(reach: { http: 'open' | 'closed'; tls: 'open' | 'closed' }, pebbleOptions: PebbleOptions = {}, extraGlobals = ''): Promise<Setup> {
  const [httpPort, httpsPort, closed1, closed2] = await freePorts(4);
  const pebble = await startPebble({
    ...pebbleOptions,
    httpPort: reach.http === 'open' ? httpPort! : closed1!,
    tlsPort: reach.tls === 'open' ? httpsPort! : closed2!,
  });
  const tmp = await tempProxyfile('');
  const storage = join(tmp.dir, 'data');
  const config = `{
	acme_ca ${pebble.directoryUrl}
	acme_ca_root ${pebble.caFile}
	email ops@example.test
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	storage file ${storage}
${extraGlobals}}
`;
  await writeFile(tmp.file, config);
  return {
    pebble,
    config: tmp.file,
    dir: tmp.dir,
    storage,
    cleanup: async () => {
      await pebble.stop();
      await tmp.remove();
    },
  };
}

async function storedChain(s: Setup, name: string): Promise<string> {
  const issuerDir = (await readdir(join(s.storage, 'certificates')))[0]!;
  return readFile(join(s.storage, 'certificates', issuerDir, name, `${name}.crt`), 'utf8');
}

/** `openssl verify` of the stored chain against Pebble's current root. */
async function verifyWithOpenssl(s: Setup, name: string): Promise<string> {
  const chain = await storedChain(s, name);
  const certs = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  assert.ok(certs.length >= 2, 'the stored chain has the leaf and an intermediate');
  await writeFile(join(s.dir, 'leaf.pem'), certs[0]!);
  await writeFile(join(s.dir, 'untrusted.pem'), certs.slice(1).join(''));
  await writeFile(join(s.dir, 'root.pem'), await s.pebble.rootPem());
  const { stdout } = await execFileP('openssl', ['verify', '-CAfile', join(s.dir, 'root.pem'), '-untrusted', join(s.dir, 'untrusted.pem'), join(s.dir, 'leaf.pem')]);
  return stdout;
}

function accountsCreated(p: Pebble): number {
  const m = [...p.logs().matchAll(/There are now (\d+) accounts in memory/g)];
  return m.length === 0 ? 0 : Number(m[m.length - 1]![1]);
}

test('obtain with only HTTP-01 reachable: exit 0 and the stored chain verifies against Pebble\'s root', async () => {
  const s = await setup({ http: 'open', tls: 'closed' });
  try {
    const r = await runCli(['certs', 'obtain', 'a.test', 'b.test', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /obtained a\.test, b\.test/);
    assert.match(await verifyWithOpenssl(s, 'a.test'), /leaf\.pem: OK/);
    const leaf = new X509Certificate((await storedChain(s, 'a.test')));
    assert.match(leaf.subjectAltName ?? '', /DNS:a\.test/);
    assert.match(leaf.subjectAltName ?? '', /DNS:b\.test/);
  } finally {
    await s.cleanup();
  }
});

test('obtain with only TLS-ALPN-01 reachable: exit 0 and the chain verifies', async () => {
  const s = await setup({ http: 'closed', tls: 'open' });
  try {
    const r = await runCli(['certs', 'obtain', 'a.test', 'b.test', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await verifyWithOpenssl(s, 'a.test'), /OK/);
    assert.match(r.stderr, /"challengeType":"tls-alpn-01"[^\n]*authorization-valid|authorization-valid[^\n]*"challengeType":"tls-alpn-01"/);
  } finally {
    await s.cleanup();
  }
});

test('three names in one order: one certificate naming all three', async () => {
  const s = await setup({ http: 'open', tls: 'open' });
  try {
    const r = await runCli(['certs', 'obtain', 'x.test', 'y.test', 'z.test', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.pebble.countOrders(), 1);
    const san = new X509Certificate(await storedChain(s, 'x.test')).subjectAltName ?? '';
    for (const n of ['x.test', 'y.test', 'z.test']) assert.match(san, new RegExp(`DNS:${n.replace('.', '\\.')}`));
  } finally {
    await s.cleanup();
  }
});

test('revoke with a reason code: Pebble reports the certificate revoked', async () => {
  const s = await setup({ http: 'open', tls: 'open' });
  try {
    assert.equal((await runCli(['certs', 'obtain', 'r.test', '--config', s.config])).code, 0);
    const serial = new X509Certificate(await storedChain(s, 'r.test')).serialNumber;
    assert.equal((await s.pebble.certStatus(serial))?.Status, 'Valid');
    const r = await runCli(['certs', 'revoke', 'r.test', '--reason', '4', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const status = await s.pebble.certStatus(serial);
    assert.equal(status?.Status, 'Revoked');
    assert.equal(Number((status as { Reason?: unknown }).Reason), 4);
    const list = await runCli(['certs', 'list', '--json', '--config', s.config]);
    assert.deepEqual(JSON.parse(list.stdout), [], 'a revoked certificate leaves storage');
  } finally {
    await s.cleanup();
  }
});

test('account is reused across two process runs, never re-created', async () => {
  const s = await setup({ http: 'open', tls: 'open' });
  try {
    assert.equal((await runCli(['certs', 'obtain', 'one.test', '--config', s.config])).code, 0);
    const account1 = await readFile(join(s.storage, 'acme', (await readdir(join(s.storage, 'acme')))[0]!, 'accounts', 'ops@example.test', 'account.json'), 'utf8');
    assert.equal((await runCli(['certs', 'obtain', 'two.test', '--config', s.config])).code, 0);
    const account2 = await readFile(join(s.storage, 'acme', (await readdir(join(s.storage, 'acme')))[0]!, 'accounts', 'ops@example.test', 'account.json'), 'utf8');
    assert.equal(JSON.parse(account2).url, JSON.parse(account1).url);
    assert.equal(accountsCreated(s.pebble), 1);
    const list = JSON.parse((await runCli(['certs', 'list', '--json', '--config', s.config])).stdout) as { names: string[] }[];
    assert.deepEqual(list.map((e) => e.names[0]).sort(), ['one.test', 'two.test']);
  } finally {
    await s.cleanup();
  }
});

test('obtain against Pebble in -strict mode', async () => {
  const s = await setup({ http: 'open', tls: 'open' }, { strict: true });
  try {
    const r = await runCli(['certs', 'obtain', 'strict.test', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await verifyWithOpenssl(s, 'strict.test'), /OK/);
  } finally {
    await s.cleanup();
  }
});

test('orders succeed while Pebble rejects 40% of nonces (badNonce retry)', async () => {
  const s = await setup({ http: 'open', tls: 'open' }, { nonceReject: 40 });
  try {
    const r = await runCli(['certs', 'obtain', 'n1.test', 'n2.test', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await verifyWithOpenssl(s, 'n1.test'), /OK/);
    assert.match(s.pebble.logs(), /Configured to reject 40% of good nonces/);
  } finally {
    await s.cleanup();
  }
});

test('a challenge that cannot succeed ends in exit 1 with Pebble\'s problem detail, after a bounded number of orders', async () => {
  const s = await setup({ http: 'closed', tls: 'closed' });
  try {
    const r = await runCli(['certs', 'obtain', 'fail.test', '--config', s.config]);
    assert.equal(r.code, 1);
    const last = r.stderr.trim().split('\n').at(-1)!;
    assert.match(last, /^my-server certs obtain: fail\.test: .*urn:ietf:params:acme:error:(unauthorized|connection).*(Failed to connect|Connection refused|connection refused)/i);
    assert.ok(s.pebble.countOrders() >= 2 && s.pebble.countOrders() <= 3, `orders: ${s.pebble.countOrders()}`);
  } finally {
    await s.cleanup();
  }
});

test('a wrong CA URL and an unreachable CA exit 1 with a one-line reason', async () => {
  const s = await setup({ http: 'open', tls: 'open' });
  try {
    const text = await readFile(s.config, 'utf8');
    await writeFile(s.config, text.replace(s.pebble.directoryUrl, s.pebble.directoryUrl.replace('/dir', '/nope')));
    const wrong = await runCli(['certs', 'obtain', 'w.test', '--config', s.config]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr.trim().split('\n').at(-1)!, /^my-server certs obtain: w\.test: .*(404|directory)/i);
    const [closed] = await freePorts(1);
    await writeFile(s.config, text.replace(s.pebble.directoryUrl, `https://127.0.0.1:${closed}/dir`));
    const down = await runCli(['certs', 'obtain', 'w.test', '--config', s.config]);
    assert.equal(down.code, 1);
    assert.match(down.stderr.trim().split('\n').at(-1)!, /^my-server certs obtain: w\.test: .*ECONNREFUSED/);
  } finally {
    await s.cleanup();
  }
});

test('SIGKILL during issuance at several points leaves a readable store; the next run reuses the account and completes', async () => {
  const s = await setup({ http: 'open', tls: 'open' });
  try {
    for (const delayMs of [150, 400, 700, 1000, 1400, 2000]) {
      const child = spawnCli(['certs', 'renew', 'crash.test', '--config', s.config]);
      const done = collect(child, 60_000);
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await done;
    }
    const r = await runCli(['certs', 'obtain', 'crash.test', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await verifyWithOpenssl(s, 'crash.test'), /OK/);
    assert.ok(accountsCreated(s.pebble) <= 1, 'one account at most, whatever the kill point');
    const list = await runCli(['certs', 'list', '--json', '--config', s.config]);
    assert.equal(list.code, 0);
    assert.deepEqual((JSON.parse(list.stdout) as { names: string[] }[]).map((e) => e.names), [['crash.test']]);
  } finally {
    await s.cleanup();
  }
});
