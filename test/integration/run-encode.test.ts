/**
 * `encode gzip` in `my-server run`, end to end: a large proxied body arrives compressed and whole,
 * over HTTP/1.1 (plain HTTP) and over HTTP/2 (HTTPS with the local CA). Small bodies and clients
 * that do not accept gzip are covered by run-proxy.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { curl, localRoot, loopbackGlobals, trackExit, verifiedHandshake } from '../helpers/clients.ts';
import { freePorts } from '../helpers/ports.ts';
import { bigBody, startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.ts';
import { startServer, type RunningServer } from '../helpers/run-server.ts';

let up: RecordingUpstream;
let server: RunningServer;
let exited: () => boolean;
let ports: { http: number; https: number; encoded: number };

before(async () => {
  up = await startRecordingUpstream();
  const [httpPort, httpsPort, encoded] = (await freePorts(3)) as [number, number, number];
  ports = { http: httpPort, https: httpsPort, encoded };
  server = await startServer(
    (env) =>
      loopbackGlobals(env, ports, '\tlocal_certs\n') +
      `http://127.0.0.1:${encoded} {
	encode gzip
	reverse_proxy ${up.address}
}

localhost {
	encode gzip
	reverse_proxy ${up.address}
}
`,
  );
  exited = trackExit(server);
});

after(async () => {
  await server?.close();
  await up?.close();
});

// Old: the compressed response stalled (the client waited for the rest of the body forever).
test('encode gzip delivers a 4 MiB proxied body intact, over HTTP/1.1 and over HTTP/2', { timeout: 60_000 }, async () => {
  const BIG = bigBody();
  const out = join(server.dir, 'big.out');
  const want = createHash('sha256').update(BIG).digest('hex');
  const h1 = await curl(['--http1.1', '--compressed', '--max-time', '10', '-D', '-', '-o', out, `http://127.0.0.1:${ports.encoded}/big`]);
  assert.equal(h1.code, 0, `curl: ${h1.stderr}\n${server.stderr().slice(-3000)}`);
  assert.match(h1.stdout, /^HTTP\/1\.1 200/);
  assert.match(h1.stdout, /^content-encoding: gzip\r?$/im, 'the response was compressed');
  const got1 = await readFile(out);
  assert.equal(got1.length, BIG.length);
  assert.equal(createHash('sha256').update(got1).digest('hex'), want);

  const root = await localRoot(server);
  await verifiedHandshake(ports.https, 'localhost', root.pem);
  const h2 = await curl([
    '--http2', '--compressed', '--max-time', '10', '--cacert', root.file, '--resolve', `localhost:${ports.https}:127.0.0.1`,
    '-D', '-', '-o', out, `https://localhost:${ports.https}/big`,
  ]);
  assert.equal(h2.code, 0, `curl: ${h2.stderr}\n${server.stderr().slice(-3000)}`);
  assert.match(h2.stdout, /^HTTP\/2 200/);
  assert.match(h2.stdout, /^content-encoding: gzip\r?$/im, 'the response was compressed');
  const got2 = await readFile(out);
  assert.equal(got2.length, BIG.length);
  assert.equal(createHash('sha256').update(got2).digest('hex'), want);
  assert.equal(exited(), false, `my-server exited\n${server.stderr()}`);
});
