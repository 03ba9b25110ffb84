import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { httpsGet, httpsGetJson, startPebble } from '../helpers/pebble.ts';
import type { Pebble } from '../helpers/pebble.ts';
import { freePort, freePorts, freeTcpUdpPort, portsInUse, reservePort } from '../helpers/ports.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

async function assertStopped(pebble: Pebble): Promise<void> {
  await pebble.stop();
  assert.equal(alive(pebble.pids.pebble), false, 'pebble process still running');
  assert.equal(alive(pebble.pids.challtestsrv), false, 'pebble-challtestsrv process still running');
  assert.equal(existsSync(pebble.caFile), false, 'temp dir not removed');
  await assert.rejects(httpsGet(pebble.directoryUrl, pebble.caPem), { code: 'ECONNREFUSED' });
}

interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
  keyChange: string;
  meta?: { externalAccountRequired?: boolean };
}

test('freePorts returns distinct ports that can be bound', async () => {
  const ports = await freePorts(8);
  assert.equal(new Set(ports).size, 8);
  const servers = await Promise.all(ports.map((port) => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer().once('error', reject).listen(port, '127.0.0.1', () => resolve(server));
  })));
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  assert.ok((await freePort()) > 0);
});

test('a port handed out stays reserved for every test process, and a port listened on at any address counts as in use', async () => {
  // The reservation is a file in a folder all test processes share: what this process sees here,
  // another test file running at the same time sees too.
  const port = await freePort();
  assert.equal(reservePort(port), false, 'handed out a moment ago: reserved');
  // A listener on ::1 or 127.0.0.2 leaves 127.0.0.1 free, but a server binding all interfaces on
  // that port would fail: such a port must not be handed out.
  for (const host of ['::1', '127.0.0.2']) {
    const server = await new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer().once('error', reject).listen(0, host, () => resolve(s));
    });
    const { port: taken } = server.address() as net.AddressInfo;
    assert.ok(portsInUse().has(taken), `a listener on [${host}]:${taken} is seen`);
    await new Promise((resolve) => server.close(resolve));
    assert.equal(portsInUse().has(taken), false, `[${host}]:${taken} closed: no longer in use`);
  }
});

test('freeTcpUdpPort returns a port bindable for UDP', async () => {
  const port = await freeTcpUdpPort();
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((resolve) => socket.close(() => resolve()));
});

test('default Pebble serves a directory over HTTPS trusted through caPem, and stop() kills both processes', async (t) => {
  const pebble = await startPebble();
  t.after(() => pebble.stop());
  const dir = await httpsGetJson<Directory>(pebble.directoryUrl, pebble.caPem);
  for (const key of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange'] as const) {
    assert.match(dir[key], /^https:\/\/127\.0\.0\.1:\d+\//, key);
  }
  assert.equal(readFileSync(pebble.caFile, 'utf8'), pebble.caPem);
  // The listener certificate chains to caPem alone: without it, Node must refuse the connection.
  await assert.rejects(httpsGet(pebble.directoryUrl, ''), /self-signed|unable to (get|verify)/i);
  assert.equal(pebble.countOrders(), 0);
  assert.match(pebble.logs(), /ACME directory available at/);
  assert.match(pebble.logs(), /Disabling random VA sleeps/);
  assert.match(pebble.logs(), new RegExp(`Using custom DNS resolver for ACME challenges: 127\\.0\\.0\\.1:${pebble.dnsPort}`));
  assert.equal(alive(pebble.pids.pebble), true);
  assert.equal(alive(pebble.pids.challtestsrv), true);
  await assertStopped(pebble);
});

test('the DNS server Pebble uses resolves every name to 127.0.0.1 over IPv4 only', async (t) => {
  const pebble = await startPebble();
  t.after(() => pebble.stop());
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([`127.0.0.1:${pebble.dnsPort}`]);
  assert.deepEqual(await resolver.resolve4('any-name.example.test'), ['127.0.0.1']);
  // An AAAA answer would send Pebble's validation to ::1, where the solvers under test don't listen.
  const v6 = await resolver.resolve6('any-name.example.test').catch((err: NodeJS.ErrnoException) => err.code);
  assert.ok(v6 === 'ENODATA' || (Array.isArray(v6) && v6.length === 0), `AAAA answered: ${String(v6)}`);
  await assertStopped(pebble);
});

test('rootPem returns the issuing root, a self-signed CA certificate that changes on every start', async (t) => {
  const first = await startPebble();
  t.after(() => first.stop());
  const root = new X509Certificate(await first.rootPem());
  assert.equal(root.ca, true);
  assert.equal(root.verify(root.publicKey), true);
  assert.match(root.subject, /Pebble Root CA/);
  const intermediate = new X509Certificate(await first.intermediatePem());
  assert.equal(intermediate.verify(root.publicKey), true);
  await assertStopped(first);

  const second = await startPebble();
  t.after(() => second.stop());
  const other = new X509Certificate(await second.rootsPem(0));
  assert.notEqual(other.fingerprint256, root.fingerprint256);
  await assertStopped(second);
});

test('strict Pebble starts and serves the same directory resources', async (t) => {
  const pebble = await startPebble({ strict: true });
  t.after(() => pebble.stop());
  const dir = await httpsGetJson<Directory>(pebble.directoryUrl, pebble.caPem);
  for (const key of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange'] as const) {
    assert.equal(typeof dir[key], 'string', key);
  }
  await assertStopped(pebble);
});

test('options reach Pebble: validation ports, EAB, nonce rejection, authz reuse, validity, chains', async (t) => {
  const [httpPort, tlsPort] = await freePorts(2);
  assert.ok(httpPort !== undefined && tlsPort !== undefined);
  const pebble = await startPebble({
    httpPort,
    tlsPort,
    nonceReject: 0,
    authzReuse: 100,
    certificateValidityPeriod: 3600,
    alternateRoots: 1,
    eab: { 'kid-1': 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' },
  });
  t.after(() => pebble.stop());
  assert.equal(pebble.httpPort, httpPort);
  assert.equal(pebble.tlsPort, tlsPort);
  const dir = await httpsGetJson<Directory>(pebble.directoryUrl, pebble.caPem);
  assert.equal(dir.meta?.externalAccountRequired, true);
  const logs = pebble.logs();
  assert.match(logs, /reject 0% of good nonces/);
  assert.match(logs, /authz reuse for each identifier 100% of the time/);
  assert.match(logs, /certificate validity period of 3600 seconds/);
  const alternate = new X509Certificate(await pebble.rootsPem(1));
  assert.notEqual(alternate.fingerprint256, new X509Certificate(await pebble.rootPem()).fingerprint256);
  await assertStopped(pebble);
});

test('certStatus returns undefined for a serial Pebble never issued', async (t) => {
  const pebble = await startPebble();
  t.after(() => pebble.stop());
  assert.equal(await pebble.certStatus('00:AB:CD:EF:01'), undefined);
  await assertStopped(pebble);
});

test('the harness survives repeated and concurrent starts in one process', async (t) => {
  for (let i = 0; i < 3; i++) {
    const pebble = await startPebble();
    t.after(() => pebble.stop());
    await assertStopped(pebble);
  }
  const pair = await Promise.all([startPebble(), startPebble()]);
  for (const p of pair) t.after(() => p.stop());
  assert.notEqual(pair[0].directoryUrl, pair[1].directoryUrl);
  assert.notEqual(await pair[0].rootPem(), await pair[1].rootPem());
  await Promise.all(pair.map(assertStopped));
  // stop() is idempotent.
  await Promise.all(pair.map((p) => p.stop()));
});

/** Pids of this process's live children, from /proc (Linux). */
function childPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) pids.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

test('startPebble rejects with Pebble output and kills both processes when Pebble exits at startup', async () => {
  const before = childPids();
  await assert.rejects(startPebble({ eab: { 'kid-1': '!!! not base64url' } }), (err: Error) => {
    assert.match(err.message, /starting Pebble: a process exited before becoming ready/);
    assert.match(err.message, /failed to decode base64 URL encoded key/);
    return true;
  });
  assert.deepEqual(childPids(), before);
});

test('startPebble rejects after readyTimeoutMs and kills both processes', async () => {
  const before = childPids();
  await assert.rejects(startPebble({ readyTimeoutMs: 1 }), /starting Pebble: not ready after 1 ms/);
  assert.deepEqual(childPids(), before);
});

test('startPebble honours an aborted signal', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(startPebble({ signal: controller.signal }), /starting Pebble: aborted/);
});
