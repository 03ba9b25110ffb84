import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { ExecProvider } from '../../src/dns/exec.ts';
import { DnsLookup } from '../../src/dns/lookup.ts';
import type { DnsProvider, PrimaryServer } from '../../src/dns/provider.ts';
import { dns01TxtValue } from '../../src/acme/dns01.ts';
import type { ChallengeInfo } from '../../src/acme/solver.ts';
import { Rfc2136Provider } from '../../src/dns/rfc2136.ts';
import { Dns01Solver, PRESENTED_PREFIX } from '../../src/dns/solver.ts';
import { tsigSecret } from '../../src/dns/tsig.ts';
import { describeError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { FileStorage } from '../../src/storage/file-storage.ts';
import { startBind, type Bind } from '../helpers/bind.ts';

// A real BIND 9 accepting TSIG-signed DNS UPDATEs: the test of our TSIG signing and UPDATE encoding.
let bind: Bind;
let dir: string;
const log = createLogger({ level: 'silent' });

before(async () => {
  bind = await startBind({
    zones: [
      { name: 'example.test', records: ['_acme-challenge.delegated CNAME d1._acme.other.test.'] },
      { name: 'other.test' },
    ],
  });
  dir = await mkdtemp(join(tmpdir(), 'my-server-dns01-'));
});
after(async () => {
  await bind?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function provider(secret = bind.secret, algorithm: 'hmac-sha256' | 'hmac-sha512' = 'hmac-sha256'): Rfc2136Provider {
  return new Rfc2136Provider({
    server: { host: '127.0.0.1', port: bind.port },
    key: { name: bind.keyName, algorithm, secret: tsigSecret(secret) as Buffer },
  });
}

const challenge = (name: string, token: string): ChallengeInfo => ({
  type: 'dns-01',
  token,
  keyAuthorization: `${token}.thumbprint`,
  identifier: { type: 'dns', value: name },
});

test('rfc2136 appends two values at one name and deletes exactly one (BIND accepts our TSIG)', async () => {
  const p = provider();
  const r1 = { name: '_acme-challenge.two', type: 'TXT' as const, value: 'value-one', ttlSeconds: 60 };
  const r2 = { ...r1, value: 'value-two' };
  await p.appendRecords('example.test.', [r1]);
  await p.appendRecords('example.test.', [r2]);
  assert.deepEqual((await bind.txt('_acme-challenge.two.example.test')).sort(), ['value-one', 'value-two']);
  await p.deleteRecords('example.test.', [r1]);
  assert.deepEqual(await bind.txt('_acme-challenge.two.example.test'), ['value-two']);
  await p.deleteRecords('example.test.', [r2]);
  assert.deepEqual(await bind.txt('_acme-challenge.two.example.test'), []);
});

test('rfc2136 with a wrong TSIG secret fails naming the rcode and the TSIG error, and writes nothing', async () => {
  const p = provider(Buffer.alloc(32, 7).toString('base64'));
  const r = { name: '_acme-challenge.bad', type: 'TXT' as const, value: 'nope', ttlSeconds: 60 };
  await assert.rejects(p.appendRecords('example.test.', [r]), (err: unknown) => {
    const msg = describeError(err);
    assert.match(msg, /NOTAUTH/);
    assert.match(msg, /BADSIG/);
    assert.match(msg, new RegExp(`127\\.0\\.0\\.1:${bind.port}`));
    return true;
  });
  assert.deepEqual(await bind.txt('_acme-challenge.bad.example.test'), []);
});

test('rfc2136 with the right secret under the wrong algorithm is refused as well', async () => {
  const r = { name: '_acme-challenge.alg', type: 'TXT' as const, value: 'x', ttlSeconds: 60 };
  await assert.rejects(provider(bind.secret, 'hmac-sha512').appendRecords('example.test.', [r]), /NOTAUTH/);
});

test('the DNS-01 solver: a wildcard and its base name present two values at one name; each cleanup removes only its own', async () => {
  const storage = new FileStorage(join(dir, 'shared'));
  const solver = new Dns01Solver({ provider: provider(), identity: 'rfc2136 test', storage, log, pollIntervalMs: 100 });
  const wildcard = challenge('*.shared.example.test', 'tok-wild');
  const base = challenge('shared.example.test', 'tok-base');
  await Promise.all([solver.present(wildcard), solver.present(base)]);
  const name = '_acme-challenge.shared.example.test';
  assert.deepEqual((await bind.txt(name)).sort(), [dns01TxtValue(base.keyAuthorization), dns01TxtValue(wildcard.keyAuthorization)].sort());
  assert.equal((await storage.list(PRESENTED_PREFIX)).length, 2);
  await solver.cleanup(wildcard);
  assert.deepEqual(await bind.txt(name), [dns01TxtValue(base.keyAuthorization)]);
  await solver.cleanup(base);
  assert.deepEqual(await bind.txt(name), []);
  assert.deepEqual(await storage.list(PRESENTED_PREFIX), []);
});

test('the DNS-01 solver follows a CNAME-delegated _acme-challenge name into another zone', async () => {
  const storage = new FileStorage(join(dir, 'cname'));
  const solver = new Dns01Solver({ provider: provider(), identity: 'rfc2136 test', storage, log, pollIntervalMs: 100 });
  const c = challenge('delegated.example.test', 'tok-cname');
  await solver.present(c);
  assert.deepEqual(await bind.txt('d1._acme.other.test'), [dns01TxtValue(c.keyAuthorization)]);
  await solver.cleanup(c);
  assert.deepEqual(await bind.txt('d1._acme.other.test'), []);
});

test('a record left behind by a crashed run is removed by the next one (cleanupLeftovers)', async () => {
  const storage = new FileStorage(join(dir, 'crash'));
  const first = new Dns01Solver({ provider: provider(), identity: 'rfc2136 test', storage, log, pollIntervalMs: 100 });
  const c = challenge('crash.example.test', 'tok-crash');
  await first.present(c);
  // `first` never cleans up: the process "died". A new one with another provider identity leaves it alone.
  const other = new Dns01Solver({ provider: provider(), identity: 'another account', storage, log });
  assert.equal(await other.cleanupLeftovers(), 0);
  assert.deepEqual(await bind.txt('_acme-challenge.crash.example.test'), [dns01TxtValue(c.keyAuthorization)]);
  // Same process here, so the record only counts as left behind by its age.
  const young = new Dns01Solver({ provider: provider(), identity: 'rfc2136 test', storage, log });
  assert.equal(await young.cleanupLeftovers(), 0);
  const next = new Dns01Solver({ provider: provider(), identity: 'rfc2136 test', storage, log, leftoverAfterMs: 0 });
  assert.equal(await next.cleanupLeftovers(), 1);
  assert.deepEqual(await bind.txt('_acme-challenge.crash.example.test'), []);
  assert.deepEqual(await storage.list(PRESENTED_PREFIX), []);
});

test('propagation_timeout bounds the wait when the server never serves the value', async () => {
  // Resolvers that are not the primary and serve nothing for the zone: the check can never pass.
  const empty = await startBind({ zones: [{ name: 'example.test' }] });
  try {
    const storage = new FileStorage(join(dir, 'timeout'));
    const solver = new Dns01Solver({
      provider: provider(),
      identity: 'rfc2136 test',
      storage,
      log,
      resolvers: [{ host: '127.0.0.1', port: empty.port }],
      propagationTimeoutMs: 600,
      pollIntervalMs: 100,
    });
    const c = challenge('slow.example.test', 'tok-slow');
    const started = Date.now();
    await assert.rejects(solver.present(c), /not served by 127\.0\.0\.1:\d+ \(no TXT record\) after 600 ms/);
    assert.ok(Date.now() - started < 5_000);
    await solver.cleanup(c);
    assert.deepEqual(await bind.txt('_acme-challenge.slow.example.test'), []);
  } finally {
    await empty.stop();
  }
});

test('the exec provider, through a shell script calling nsupdate, presents and removes the record (resolvers: BIND)', async () => {
  const script = join(dir, 'nsupdate-hook.sh');
  await writeFile(script, `#!/bin/sh
# lego exec protocol: $1 = present|cleanup, $2 = FQDN with trailing dot, $3 = value
if [ "$1" = present ]; then op="add $2 60"; else op="delete $2"; fi
nsupdate -y ${bind.algorithm}:${bind.keyName}:${bind.secret} <<EOF
server 127.0.0.1 ${bind.port}
update $op TXT "$3"
send
EOF
`);
  await chmod(script, 0o755);
  const storage = new FileStorage(join(dir, 'exec'));
  const solver = new Dns01Solver({
    provider: new ExecProvider({ program: script }),
    identity: 'exec test',
    storage,
    log,
    resolvers: [{ host: '127.0.0.1', port: bind.port }],
    pollIntervalMs: 100,
  });
  const c = challenge('*.exec.example.test', 'tok-exec');
  await solver.present(c);
  assert.deepEqual(await bind.txt('_acme-challenge.exec.example.test'), [dns01TxtValue(c.keyAuthorization)]);
  await solver.cleanup(c);
  assert.deepEqual(await bind.txt('_acme-challenge.exec.example.test'), []);
});

test('zone discovery walks up to the SOA; the authoritative servers come from NS; a name in no zone is an error naming why', async () => {
  const lookup = new DnsLookup([{ host: '127.0.0.1', port: bind.port }]);
  assert.equal(await lookup.zoneOf('_acme-challenge.deep.er.example.test'), 'example.test.');
  assert.equal(await lookup.zoneOf('other.test'), 'other.test.');
  assert.deepEqual(await lookup.authoritativeServers('example.test.'), [{ host: '127.0.0.1', port: 53 }]);
  assert.equal(await lookup.followCname('_acme-challenge.delegated.example.test'), 'd1._acme.other.test');
  assert.equal(await lookup.followCname('_acme-challenge.plain.example.test'), '_acme-challenge.plain.example.test');
  await assert.rejects(lookup.zoneOf('nowhere.invalid'), /no zone \(SOA\) found for nowhere\.invalid via 127\.0\.0\.1:\d+ \(last: .*REFUSED\)/);
});

test('presents at one name wait for each other\'s writes: a CA\'s first (cached) answer holds every value', async () => {
  const real = provider();
  const slowToken = 'tok-slow-write';
  // The real provider, with the base name's write held back 400 ms.
  const slow: DnsProvider & PrimaryServer = {
    name: real.name,
    primary: real.primary,
    async appendRecords(zone, records, signal) {
      if (records.some((r) => r.value === dns01TxtValue(`${slowToken}.thumbprint`))) await sleep(400);
      await real.appendRecords(zone, records, signal);
    },
    deleteRecords: (zone, records, signal) => real.deleteRecords(zone, records, signal),
  };
  const solver = new Dns01Solver({ provider: slow, identity: 'rfc2136 test', storage: new FileStorage(join(dir, 'group')), log, pollIntervalMs: 100 });
  const wildcard = challenge('*.group.example.test', 'tok-fast-write');
  const base = challenge('group.example.test', slowToken);
  const slowPresent = solver.present(base);
  await solver.present(wildcard);
  // The wildcard's challenge could be answered now: both values must already be served.
  assert.equal((await bind.txt('_acme-challenge.group.example.test')).length, 2);
  await slowPresent;
  await solver.cleanup(wildcard);
  await solver.cleanup(base);
  assert.deepEqual(await bind.txt('_acme-challenge.group.example.test'), []);
});
