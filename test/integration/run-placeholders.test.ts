/**
 * Placeholders end to end: `my-server run` (the real CLI) over HTTPS with the local CA, a real
 * node:http upstream recording what reaches it, curl as the client over HTTP/1.1 and HTTP/2.
 * header_up, header and respond resolve the request's values at run time; an unknown placeholder
 * is logged at start with its FILE:LINE:COL and left as written.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { globalOptions, startServer, type RunningServer } from '../helpers/run-server.ts';

const execFileP = promisify(execFile);

let server: RunningServer | undefined;
let upstream: http.Server | undefined;
let httpsPort = 0;
let root = '';
const seen: IncomingHttpHeaders[] = [];

before(async () => {
  upstream = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve));
  const upPort = (upstream.address() as AddressInfo).port;
  const [httpPort, https] = await freePorts(2);
  httpsPort = https!;
  server = await startServer(
    (env) =>
      globalOptions(env, { http: httpPort!, https: httpsPort, loopback: true }, '\tlocal_certs\n') +
      `localhost {
	header X-Resp "{tls_version} {cookie.c} {query.k}"
	respond /body "{header.X-A}|{query.k}|{tls_cipher}|{labels.0}|{uri}"
	reverse_proxy 127.0.0.1:${upPort} {
		header_up X-Real-IP {client_ip}
		header_up X-From-Header {header.X-A}
		header_up X-Cookie {cookie.c}
		header_up X-Query {query.k}
		header_up X-Tls {tls_version}
		header_up X-Env {env.PLACEHOLDER_RUN_TEST}
		header_up X-Upstream {upstream_hostport}
		header_up X-Unknown a{tls_protocol}b
	}
}
`,
    { env: { PLACEHOLDER_RUN_TEST: 'at-run-time' } },
  );
  const file = join(server.storage, 'pki', 'local', 'root.crt');
  await eventually('the local CA root in storage', 20_000, () => access(file).then(() => true));
  root = file;
});

after(async () => {
  await server?.close();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
});

async function curl(args: readonly string[]): Promise<{ head: string; body: string }> {
  const { stdout } = await execFileP(
    'curl',
    ['-sS', '-i', '--max-time', '20', '--cacert', root, '--resolve', `localhost:${httpsPort}:127.0.0.1`, ...args],
    { encoding: 'utf8' },
  );
  const [head = '', body = ''] = stdout.split(/\r?\n\r?\n/, 2);
  return { head, body };
}

for (const version of ['--http1.1', '--http2'] as const) {
  test(`header_up expands {client_ip}, {header.X}, {cookie.c}, {query.k}, {tls_version}, {env.VAR} for the upstream (${version})`, async () => {
    const before = seen.length;
    const { head } = await curl([version, '--tlsv1.3', '-H', 'X-A: from-client', '-H', 'Cookie: d=1; c=cookie-value', `https://localhost:${httpsPort}/p?k=v1&k=v2&z=1`]);
    assert.match(head, /^HTTP\/(1\.1|2) 200/, head);
    const h = seen[before];
    assert.ok(h, 'the upstream got the request');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-from-header'], 'from-client');
    assert.equal(h['x-cookie'], 'cookie-value');
    assert.equal(h['x-query'], 'v1,v2');
    assert.equal(h['x-tls'], 'tls1.3');
    assert.equal(h['x-env'], 'at-run-time');
    assert.equal(h['x-upstream'], `127.0.0.1:${(upstream!.address() as AddressInfo).port}`);
    assert.equal(h['x-unknown'], 'a{tls_protocol}b', 'unknown placeholders stay as written, as in Caddy');
    // The response directive reads the same request.
    assert.match(head, /^x-resp: tls1\.3 cookie-value v1,v2\r?$/im, head);
  });
}

test('respond expands request placeholders in its body', async () => {
  const { head, body } = await curl(['--http2', '-H', 'X-A: a', `https://localhost:${httpsPort}/body?k=1`]);
  assert.match(head, /^HTTP\/2 200/, head);
  assert.match(body, /^a\|1\|TLS_[A-Z0-9_]+\|localhost\|\/body\?k=1$/, body);
});

test('the start logs each unknown placeholder with its FILE:LINE:COL', async () => {
  const lines = (await readFile(server!.file, 'utf8')).split('\n');
  const at = lines.findIndex((l) => l.includes('X-Unknown'));
  const where = `${server!.file}:${at + 1}:${lines[at]!.indexOf('{tls_protocol}') + 1}`;
  const logged = server!.output().split('\n').find((l) => l.includes('unknown placeholder {tls_protocol}'));
  assert.ok(logged, server!.output());
  assert.ok(logged.includes(where), `${where} in ${logged}`);
});
