/**
 * Starting `my-server run`, end to end: what it binds (every default_bind address, nothing else),
 * and a start that cannot complete exits 1 naming the thing at fault, with no listener left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { collect, spawnCli, tempProxyfile } from '../helpers/cli.ts';
import { get, loopbackGlobals, refuses } from '../helpers/clients.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer } from '../helpers/run-server.ts';

// Old: one http.Server was listened on twice, which Node refuses (ERR_SERVER_ALREADY_LISTEN).
test('default_bind with two addresses answers on both', { timeout: 30_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startServer((env) =>
    loopbackGlobals(env, { http: httpPort, https: httpsPort }).replace('default_bind 127.0.0.1', 'default_bind 127.0.0.1 127.0.0.2') +
    `http:// {
	respond "bound"
}
`);
  t.after(() => server.close());
  for (const address of ['127.0.0.1', '127.0.0.2']) {
    const res = await get(`http://${address}:${httpPort}/`);
    assert.deepEqual(res, { status: 200, body: 'bound' }, address);
  }
  // Only the named addresses: another loopback address is not bound.
  assert.equal(await refuses(httpPort, '127.0.0.3'), true);
});

// Old: app.start() failed but the HTTP listener bound before it kept the process alive.
test('a start that fails on a taken admin port exits 1, names the address, and leaves no listener behind', { timeout: 30_000 }, async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const adminPort = (blocker.address() as net.AddressInfo).port;
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const cfg = await tempProxyfile('');
  t.after(() => cfg.remove());
  await writeFile(cfg.file, `{
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	admin 127.0.0.1:${adminPort}
	storage file ${join(cfg.dir, 'data')}
}

http://a.test {
	respond "a"
}
`);
  const started = Date.now();
  const res = await collect(spawnCli(['run', '--config', cfg.file], { env: { MY_SERVER_STORAGE: '' } }), 10_000);
  assert.equal(res.code, 1, `stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  assert.ok(Date.now() - started < 10_000);
  assert.match(res.stderr, new RegExp(`127\\.0\\.0\\.1:${adminPort}`), res.stderr);
  assert.equal(await refuses(httpPort), true, `port ${httpPort} still accepts connections`);
});

// Old: an access log file that could not be opened was found only by the logger, asynchronously,
// after the start had succeeded (and a path under /proc hung Node's recursive mkdir).
test('a start with a site access log that cannot be opened exits 1 naming the file, and binds nothing', { timeout: 30_000 }, async (t) => {
  const [httpPort, httpsPort, site] = (await freePorts(3)) as [number, number, number];
  const cfg = await tempProxyfile('');
  t.after(() => cfg.remove());
  // The Proxyfile itself is a file, so nothing can be created below it.
  const bad = join(cfg.file, 'access.log');
  await writeFile(cfg.file, `{
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	admin off
	storage file ${join(cfg.dir, 'data')}
}

http://127.0.0.1:${site} {
	log {
		output file ${bad}
	}
	respond "a"
}
`);
  const res = await collect(spawnCli(['run', '--config', cfg.file], { env: { MY_SERVER_STORAGE: '' } }), 10_000);
  assert.equal(res.code, 1, `stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  assert.ok(res.stderr.includes(`log output file ${bad}`), res.stderr);
  assert.equal(await refuses(site), true);
});
