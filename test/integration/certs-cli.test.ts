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
import { pebbleGlobals, startPebble, type Pebble, type PebbleOptions } from '../helpers/pebble.ts';
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
async function setup(reach: { http: 'open' | 'closed'; tls: 'open' | 'closed' }, pebbleOptions: PebbleOptions = {}, extraGlobals = '', sites = ''): Promise<Setup> {
  const [httpPort, httpsPort, closed1, closed2] = (await freePorts(4)) as [number, number, number, number];
  const pebble = await startPebble({
    ...pebbleOptions,
    httpPort: reach.http === 'open' ? httpPort : closed1,
    tlsPort: reach.tls === 'open' ? httpsPort : closed2,
  });
  const tmp = await tempProxyfile('');
  const storage = join(tmp.dir, 'data');
  const config = pebbleGlobals(pebble, { http: httpPort, https: httpsPort, storage }, extraGlobals) + sites;
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

interface ListEntry {
  names: string[];
  issuer: string;
  storageKey: string;
}

async function listed(s: Setup): Promise<ListEntry[]> {
  const r = await runCli(['certs', 'list', '--json', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ListEntry[];
}

test('a `tls internal` site: obtain, renew and revoke use the local CA\'s storage key, never the ACME CA', async () => {
  const s = await setup({ http: 'open', tls: 'open' }, {}, '', 'internal.test {\n\ttls internal\n\trespond "hi"\n}\n');
  try {
    const obtained = await runCli(['certs', 'obtain', 'internal.test', '--config', s.config]);
    assert.equal(obtained.code, 0, obtained.stderr);
    assert.match(obtained.stdout, /stored at certificates\/local\/internal\.test\//);
    const before = await listed(s);
    assert.deepEqual(before.map((e) => [e.names, e.issuer]), [[['internal.test'], 'local']]);
    const renewed = await runCli(['certs', 'renew', 'internal.test', '--config', s.config]);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.match(renewed.stdout, /^renewed internal\.test: .*stored at certificates\/local\/internal\.test\//m);
    assert.deepEqual((await listed(s)).map((e) => [e.names, e.issuer]), [[['internal.test'], 'local']], 'renewed in place, no second certificate');
    // Revoke finds the local certificate (and says the local CA cannot revoke) instead of
    // looking for an ACME certificate that was never there.
    const revoked = await runCli(['certs', 'revoke', 'internal.test', '--config', s.config]);
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /internal\.test is from the local CA, which has no revocation/);
    assert.equal(s.pebble.countOrders(), 0, 'the ACME CA saw no order');
    // --issuer overrides the policy by name: a public name from the local CA.
    const forced = await runCli(['certs', 'obtain', 'forced.test', '--issuer', 'internal', '--config', s.config]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /stored at certificates\/local\/forced\.test\//);
    assert.equal(s.pebble.countOrders(), 0);
  } finally {
    await s.cleanup();
  }
});

test('a `tls { ca URL }` site: obtain, renew and revoke go to the site\'s CA, not the global acme_ca', async () => {
  const s = await setup({ http: 'open', tls: 'open' });
  try {
    // The global CA is a closed port: only the site's `ca` can succeed.
    const [closed] = await freePorts(1);
    const text = await readFile(s.config, 'utf8');
    await writeFile(
      s.config,
      text.replace(`acme_ca ${s.pebble.directoryUrl}`, `acme_ca https://127.0.0.1:${closed}/dir`) + `ca.test {\n\ttls {\n\t\tca ${s.pebble.directoryUrl}\n\t}\n\trespond "hi"\n}\n`,
    );
    const obtained = await runCli(['certs', 'obtain', 'ca.test', '--config', s.config]);
    assert.equal(obtained.code, 0, obtained.stderr);
    const first = new X509Certificate(await storedChain(s, 'ca.test')).serialNumber;
    const renewed = await runCli(['certs', 'renew', 'ca.test', '--config', s.config]);
    assert.equal(renewed.code, 0, renewed.stderr);
    const second = new X509Certificate(await storedChain(s, 'ca.test')).serialNumber;
    assert.notEqual(second, first, 'a new certificate replaced the stored one');
    assert.equal(s.pebble.countOrders(), 2);
    const entries = await listed(s);
    assert.deepEqual(entries.map((e) => [e.names, e.issuer]), [[['ca.test'], s.pebble.directoryUrl]]);
    const revoked = await runCli(['certs', 'revoke', 'ca.test', '--reason', '1', '--config', s.config]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await s.pebble.certStatus(second))?.Status, 'Revoked');
    assert.deepEqual(await listed(s), [], 'a revoked certificate leaves storage');
  } finally {
    await s.cleanup();
  }
});

test('obtain with a U-label under local_certs stores the A-label certificate; an invalid name is refused by name', async () => {
  const [httpPort, httpsPort] = await freePorts(2);
  const tmp = await tempProxyfile('');
  const storage = join(tmp.dir, 'data');
  await writeFile(
    tmp.file,
    `{\n\tlocal_certs\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n\tdefault_bind 127.0.0.1\n\tstorage file ${storage}\n}\nbücher.test {\n\trespond "hi"\n}\n`,
  );
  try {
    const obtained = await runCli(['certs', 'obtain', 'bücher.test', '--config', tmp.file]);
    assert.equal(obtained.code, 0, obtained.stderr);
    assert.match(obtained.stdout, /^obtained xn--bcher-kva\.test: .*stored at certificates\/local\/xn--bcher-kva\.test\//m);
    const pem = await readFile(join(storage, 'certificates', 'local', 'xn--bcher-kva.test', 'xn--bcher-kva.test.crt'), 'utf8');
    assert.equal(new X509Certificate(pem).subjectAltName, 'DNS:xn--bcher-kva.test');
    const refused = await runCli(['certs', 'obtain', 'a..b.test', '--config', tmp.file]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /"a\.\.b\.test" is not a DNS name or IP address/);
  } finally {
    await tmp.remove();
  }
});
