/**
 * What an operator sees of a running instance: JSON log lines with level/time/logger/msg, access
 * log fields like Caddy's, Prometheus metrics counting requests, handshakes and certificates; and
 * user-managed certificate files picked up when they change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { eventually } from '../helpers/eventually.ts';
import { globalOptions, startServer } from '../helpers/run-server.ts';
import { freePorts } from '../helpers/ports.ts';

const execFileP = promisify(execFile);

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function httpsGet(port: number, ca: string, servername: string): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
      socket.write(`GET /obs?x=1 HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
      let raw = '';
      socket.setEncoding('utf8').on('data', (d: string) => (raw += d));
      socket.on('end', () => resolve({ status: Number(raw.slice(9, 12)), body: raw.slice(raw.indexOf('\r\n\r\n') + 4), serial }));
    });
    socket.on('error', reject);
  });
}

/** A metric's value from Prometheus text, or undefined. */
function metric(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function selfSigned(dir: string, name: string, prefix: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${prefix}.crt`);
  const key = join(dir, `${prefix}.key`);
  await execFileP('openssl', opensslArgs(join(dir, prefix), name));
  return { cert, key };
}

test('JSON logs, access log fields and metrics for requests, handshakes and certificates', async (t) => {
  const [httpPort, httpsPort] = await freePorts(2);
  const server = await startServer(
    (env) => `${globalOptions(env, { http: httpPort!, https: httpsPort!, loopback: true }, `	local_certs
	log {
		format json
	}
`)}localhost {
	respond "observed"
	log {
		output stdout
		format json
	}
}
`,
  );
  t.after(() => server.close());
  const ca = await eventually('the local CA root in storage', 30_000, () => readFile(join(server.storage, 'pki/local/root.crt'), 'utf8'), 200);
  const res = await eventually('an HTTPS answer for localhost', 30_000, () => httpsGet(httpsPort!, ca, 'localhost'), 200);
  assert.equal(res.status, 200);
  assert.equal(res.body, 'observed');

  const metrics = (await httpGet(`${server.adminUrl}/metrics`)).body;
  assert.ok((metric(metrics, 'my_server_requests_total', { site: 'localhost', code: '200' }) ?? 0) >= 1, metrics);
  assert.ok((metric(metrics, 'my_server_tls_handshakes_total', { result: 'ok' }) ?? 0) >= 1);
  assert.ok((metric(metrics, 'my_server_certificates_obtained_total', { issuer: 'local' }) ?? 0) >= 1);
  const expiry = metric(metrics, 'my_server_certificate_expiry_timestamp_seconds', { name: 'localhost' });
  assert.ok(expiry !== undefined && expiry * 1000 > Date.now(), 'the expiry gauge holds a future time');

  await server.waitForOutput(/"uri":"\/obs\?x=1"/, 30_000);
  const access = server
    .stdout()
    .split('\n')
    .filter((l) => l.includes('"logger":"http.log.access.'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => (l['request'] as { uri?: string }).uri === '/obs?x=1');
  assert.ok(access, server.stdout());
  // Caddy's access entry has more request fields (remote_port, client_ip, headers, tls): these are the stable ones.
  const { remote_ip, method, host, uri, proto } = access['request'] as Record<string, unknown>;
  assert.deepEqual({ remote_ip, method, host, uri, proto }, { remote_ip: '127.0.0.1', method: 'GET', host: 'localhost', uri: '/obs?x=1', proto: 'HTTP/1.1' });
  assert.equal(access['status'], 200);
  assert.equal(access['size'], 'observed'.length);
  assert.equal(typeof access['duration'], 'number');

  const lines = server.stderr().split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length > 0);
  for (const line of lines) {
    const rec = JSON.parse(line) as Record<string, unknown>;
    for (const field of ['level', 'time', 'logger', 'msg']) assert.ok(field in rec, `${field} in ${line}`);
  }
});

test('a user-managed certificate is served, and served anew after its files are replaced', async (t) => {
  const [httpPort, httpsPort] = await freePorts(2);
  const server = await startServer((env) => {
    // The files must exist before the server reads its config.
    execFileSync('openssl', opensslArgs(join(env.dir, 'site'), 'manual.test'), { stdio: 'ignore' });
    return `{
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	admin 127.0.0.1:${env.adminPort}
	storage file ${env.storage}
	auto_https off
}
manual.test {
	tls ${join(env.dir, 'site.crt')} ${join(env.dir, 'site.key')}
	respond "manual"
}
`;
  });
  t.after(() => server.close());
  const first = await readFile(join(server.dir, 'site.crt'), 'utf8');
  const before = await httpsGet(httpsPort!, first, 'manual.test');
  assert.equal(before.body, 'manual');
  assert.equal(before.serial, new X509Certificate(first).serialNumber);

  // Replace both files the way a renewal tool would: new files renamed over the old ones.
  const next = await selfSigned(server.dir, 'manual.test', 'next');
  await rename(next.key, join(server.dir, 'site.key'));
  await rename(next.cert, join(server.dir, 'site.crt'));
  const second = await readFile(join(server.dir, 'site.crt'), 'utf8');
  const after = await eventually('the replaced certificate served', 15_000, async () => {
    const r = await httpsGet(httpsPort!, second, 'manual.test');
    assert.equal(r.serial, new X509Certificate(second).serialNumber);
    return r;
  }, 200);
  assert.equal(after.body, 'manual');
});

function opensslArgs(base: string, name: string): string[] {
  return ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.crt`, '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-days', '2'];
}
