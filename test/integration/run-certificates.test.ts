/**
 * Which certificate `my-server run` serves in cases off the managed-name path, end to end: an
 * IP-literal site to clients that send no SNI (with or without ALPN), and a user's own certificate
 * files with automatic HTTPS off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { tempProxyfile } from '../helpers/cli.ts';
import { curl, localRoot, loopbackGlobals } from '../helpers/clients.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer } from '../helpers/run-server.ts';

const execFileP = promisify(execFile);

/**
 * An HTTP/1.1 GET over a TLS connection to 127.0.0.1 that sends no SNI (an IP address) and, unless
 * `alpn` is given, no ALPN extension: what Java's HttpURLConnection sends to https://10.0.0.5/.
 */
function getWithoutSni(port: number, ca: string, alpn?: string[]): Promise<{ authorized: boolean; san?: string; response: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, ...(alpn ? { ALPNProtocols: alpn } : {}) });
    let response = '';
    let san: string | undefined;
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 15_000);
    socket.once('secureConnect', () => {
      san = socket.getPeerCertificate().subjectaltname;
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    });
    socket.setEncoding('utf8').on('data', (d: string) => (response += d));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ authorized: socket.authorized, ...(san !== undefined ? { san } : {}), response });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({ authorized: false, response, error: err.message });
    });
  });
}

// Old: a client sending neither SNI nor ALPN to an IP-literal site got no certificate at all (the
// certificate for the address was set from the ALPN callback, which such a hello never reaches).
test('an IP-literal site serves clients with no SNI, with or without ALPN', { timeout: 40_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort })}127.0.0.1 {
	respond "by address"
}
`);
  t.after(() => server.close());
  const root = await localRoot(server);
  await eventually('a verified handshake with ALPN', 15_000, async () => ((await getWithoutSni(httpsPort, root.pem, ['http/1.1'])).authorized ? true : undefined), 250);
  for (const alpn of [undefined, ['http/1.1'], ['h2', 'http/1.1']]) {
    const res = await getWithoutSni(httpsPort, root.pem, alpn);
    assert.equal(res.error, undefined, `ALPN ${JSON.stringify(alpn)}: ${res.error}\n${server.stderr().slice(-2000)}`);
    assert.equal(res.authorized, true, `ALPN ${JSON.stringify(alpn)}`);
    assert.equal(res.san, 'IP Address:127.0.0.1');
    if (alpn?.[0] !== 'h2') {
      assert.match(res.response, /^HTTP\/1\.1 200 /, `ALPN ${JSON.stringify(alpn)}: ${res.response}`);
      assert.match(res.response, /by address$/);
    }
  }
});

// Old: auto_https off also switched off loading the user's certificate files.
test('auto_https off still serves a certificate given with tls CERT KEY', { timeout: 30_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const files = await tempProxyfile('');
  t.after(() => files.remove());
  const cert = join(files.dir, 'cert.pem');
  const key = join(files.dir, 'key.pem');
  await execFileP('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-days', '2',
    '-subj', '/CN=manual.test', '-addext', 'subjectAltName=DNS:manual.test', '-keyout', key, '-out', cert,
  ]);
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort }, '\tauto_https off\n')}
manual.test {
	tls ${cert} ${key}
	respond "manual"
}
`);
  t.after(() => server.close());
  const res = await curl(['--max-time', '10', '--resolve', `manual.test:${httpsPort}:127.0.0.1`, '--cacert', cert, '-w', '\n%{http_code}', `https://manual.test:${httpsPort}/`]);
  assert.equal(res.code, 0, `curl: ${res.stderr}\n${server.stderr().slice(-3000)}`);
  assert.equal(res.stdout, 'manual\n200');
});
