/**
 * Global options applied at run time, with the App in-process and real clients: default_sni (a
 * client sending no SNI gets that site's certificate, with and without ALPN, which take different
 * paths through tls-front.ts), fallback_sni (an unknown SNI gets that site's certificate), both
 * read per handshake so a reload without them refuses again; shutdown_delay (close() keeps
 * serving for the delay before the grace period starts). Certificates come from the local CA.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import { App } from '../../../src/app.ts';
import { parseConfig } from '../../../src/config/index.ts';
import type { Config } from '../../../src/config/types.ts';
import { freePorts } from '../../helpers/ports.ts';

interface Setup {
  readonly httpsPort: number;
  readonly httpPort: number;
  config(globals: string, sites?: string): Promise<Config>;
}

async function setup(t: TestContext): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-sni-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const sites = 'a.test {\n\ttls internal\n\trespond "a"\n}\nb.test {\n\ttls internal\n\trespond "b"\n}\n';
  return {
    httpPort,
    httpsPort,
    config: (globals, s = sites) =>
      parseConfig(
        `{\n\tadmin off\n\tstorage file_system ${join(dir, 'data')}\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n\tdefault_bind 127.0.0.1\n\tgrace_period 100ms\n${globals}\n}\n${s}`,
        { filename: 'P', env: {} },
      ),
  };
}

/** The DNS names of the certificate served to a handshake to 127.0.0.1, or the handshake's error. */
function servedNames(port: number, options: { servername?: string; alpn?: boolean }): Promise<string[] | Error> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      rejectUnauthorized: false,
      // node sends no SNI for an IP host unless told a servername.
      ...(options.servername !== undefined ? { servername: options.servername } : {}),
      ...(options.alpn === true ? { ALPNProtocols: ['http/1.1'] } : {}),
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('handshake timeout')));
    socket.once('secureConnect', () => {
      const san = socket.getPeerCertificate().subjectaltname ?? '';
      socket.destroy();
      resolve(san.split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)));
    });
    socket.once('error', (err) => resolve(err));
  });
}

test('default_sni serves its site to clients without SNI and fallback_sni to unknown names, per handshake', async (t) => {
  const s = await setup(t);
  const app = new App(await s.config('\tdefault_sni b.test\n\tfallback_sni a.test'), { log: pino({ level: 'silent' }) });
  t.after(() => app.close());
  await app.start();
  // With SNI the handshake waits for issuance; default_sni only serves what is loaded.
  assert.deepEqual(await servedNames(s.httpsPort, { servername: 'a.test' }), ['a.test']);
  assert.deepEqual(await servedNames(s.httpsPort, { servername: 'b.test' }), ['b.test']);

  assert.deepEqual(await servedNames(s.httpsPort, {}), ['b.test'], 'no SNI, no ALPN');
  assert.deepEqual(await servedNames(s.httpsPort, { alpn: true }), ['b.test'], 'no SNI, with ALPN');
  assert.deepEqual(await servedNames(s.httpsPort, { servername: 'unknown.test' }), ['a.test'], 'unknown SNI');
  assert.deepEqual(await servedNames(s.httpsPort, { servername: 'B.TEST' }), ['b.test'], 'a known name is not replaced');

  // Without the options (a reload), the same handshakes are refused again.
  await app.reload(await s.config(''));
  assert.ok((await servedNames(s.httpsPort, {})) instanceof Error, 'no SNI without default_sni');
  assert.ok((await servedNames(s.httpsPort, { alpn: true })) instanceof Error, 'no SNI with ALPN without default_sni');
  assert.ok((await servedNames(s.httpsPort, { servername: 'unknown.test' })) instanceof Error, 'unknown SNI without fallback_sni');
});

function get(port: number): Promise<number | Error> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'h.test', connection: 'close' }, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err) => resolve(err));
  });
}

test('shutdown_delay keeps serving new requests for the delay before close() stops accepting', async (t) => {
  const s = await setup(t);
  const delayMs = 600;
  const app = new App(await s.config(`\tshutdown_delay ${delayMs}ms`, 'http://h.test {\n\trespond "h"\n}\n'), { log: pino({ level: 'silent' }) });
  await app.start();
  assert.equal(await get(s.httpPort), 200);
  const started = performance.now();
  let closedAt: number | undefined;
  const closing = app.close().then(() => (closedAt = performance.now()));
  // Well inside the delay: a new connection is still accepted and answered.
  assert.equal(await get(s.httpPort), 200);
  assert.equal(closedAt, undefined, 'close() must not finish within the delay');
  await closing;
  assert.ok(closedAt! - started >= delayMs - 5, `close() took ${Math.round(closedAt! - started)} ms, less than the ${delayMs} ms delay`);
  const after = await get(s.httpPort);
  assert.ok(after instanceof Error, 'nothing accepts after close()');
});

test('auto_https disable_certs obtains nothing but keeps the HTTP to HTTPS redirect', async (t) => {
  const s = await setup(t);
  const app = new App(await s.config('\tauto_https disable_certs'), { log: pino({ level: 'silent' }) });
  t.after(() => app.close());
  await app.start();
  assert.ok((await servedNames(s.httpsPort, { servername: 'a.test' })) instanceof Error, 'no certificate for a.test');
  const status = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: s.httpPort, path: '/x', headers: { host: 'a.test' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
  assert.equal(status, 308);
});
