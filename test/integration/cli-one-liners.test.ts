/**
 * `my-server reverse-proxy` and `my-server file-server`, as Caddy's one-liners: each writes the
 * Proxyfile its flags mean and serves it through `run`. Real processes on loopback, answered by curl.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, runCli, spawnCli, type CliResult } from '../helpers/cli.ts';
import { curl } from '../helpers/clients.ts';
import { freePorts } from '../helpers/ports.ts';
import { selfSignedFixture } from '../helpers/self-signed.ts';

const upstreamCert = selfSignedFixture('my-server-one-liner-upstream-', 'upstream.test');
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-one-liner-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An upstream answering with the request's Host and X-Test headers as JSON. */
async function upstream(secure: boolean): Promise<number> {
  const handler: http.RequestListener = (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ host: req.headers.host, test: req.headers['x-test'] ?? null, secure }));
  };
  const server = secure ? https.createServer({ key: upstreamCert.key, cert: upstreamCert.cert }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

interface OneLiner {
  readonly child: ChildProcess;
  /** The generated Proxyfile's path, from the command's own announcement. */
  readonly file: string;
  readonly output: () => string;
  stop(): Promise<CliResult>;
}

/** Starts `my-server ARGS` and resolves once it logs "serving"; rejects with its output if it exits first. */
async function start(args: string[], storage: string, cwd?: string): Promise<OneLiner> {
  const child = spawnCli(args, { env: { MY_SERVER_STORAGE: storage }, ...(cwd === undefined ? {} : { cwd }) });
  const done = collect(child, 120_000);
  let output = '';
  const serving = new Promise<void>((resolve, reject) => {
    const look = (d: Buffer): void => {
      output += d.toString('utf8');
      if (output.includes('"msg":"serving"')) resolve();
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    void done.then((r) => reject(new Error(`exited (${r.code ?? r.signal}) before serving:\n${output}`)), reject);
  });
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await done.catch(() => undefined);
  });
  await serving;
  const file = /serving this Proxyfile \(([^)]+)\)/.exec(output)?.[1] ?? '';
  return {
    child,
    file,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      return done;
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

describe('reverse-proxy', () => {
  test('--from localhost:PORT --internal-certs serves HTTPS from the local CA, passes the client Host, redirects HTTP; SIGTERM exits 0 and removes the generated file', async () => {
    const up = await upstream(false);
    const [port, httpPort] = (await freePorts(2)) as [number, number];
    const storage = await tempDir();
    const proxy = await start(['reverse-proxy', '--from', `localhost:${port}`, '--to', `127.0.0.1:${up}`, '--internal-certs', '--http-port', String(httpPort)], storage);
    assert.match(proxy.output(), /https:\/\/localhost:\d+ \{\n\s+tls internal\n\s+reverse_proxy 127\.0\.0\.1:\d+\n/);
    assert.ok(await exists(proxy.file), 'the generated Proxyfile exists while serving');

    const root = join(storage, 'pki', 'local', 'root.crt');
    // Certificates are obtained in the background after "serving": retry until verified.
    let got = await curl(['--cacert', root, '--retry', '10', '--retry-all-errors', '--retry-delay', '1', `https://localhost:${port}/`]);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(JSON.parse(got.stdout), { host: `localhost:${port}`, test: null, secure: false });

    got = await curl(['-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `http://localhost:${httpPort}/a?b=c`]);
    assert.equal(got.stdout, `308 https://localhost:${port}/a?b=c`);

    const stopped = await proxy.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(await exists(proxy.file), false, 'the generated Proxyfile is removed on exit');
  });

  test('--change-host-header, --header-up/--header-down and --disable-redirects; several --to', async () => {
    const [up1, up2] = [await upstream(false), await upstream(false)];
    const [port, httpPort] = (await freePorts(2)) as [number, number];
    const storage = await tempDir();
    const proxy = await start(
      ['reverse-proxy', '-f', `localhost:${port}`, '-t', `127.0.0.1:${up1}`, '-t', `http://127.0.0.1:${up2}`, '-i', '-c', '-r', '-H', 'X-Test: up', '-d', 'X-Down: down', '--http-port', String(httpPort)],
      storage,
    );
    const root = join(storage, 'pki', 'local', 'root.crt');
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const got = await curl(['--cacert', root, '-D', '-', '--retry', '10', '--retry-all-errors', '--retry-delay', '1', `https://localhost:${port}/`]);
      assert.equal(got.code, 0, got.stderr);
      const [head = '', body = ''] = got.stdout.split('\r\n\r\n');
      assert.match(head, /^x-down: down$/im);
      const seenBy = JSON.parse(body) as { host: string; test: string };
      assert.equal(seenBy.test, 'up');
      assert.match(seenBy.host, /^127\.0\.0\.1:\d+$/, 'Host is the upstream address');
      seen.add(seenBy.host);
    }
    assert.ok([...seen].every((h) => h === `127.0.0.1:${up1}` || h === `127.0.0.1:${up2}`), [...seen].join(' '));
    const plain = await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://localhost:${httpPort}/`]);
    assert.notEqual(plain.stdout, '308', 'no redirect with --disable-redirects');
    assert.equal((await proxy.stop()).code, 0);
  });

  test('an HTTP --from without a host; an https:// upstream with a self-signed certificate needs --insecure', async () => {
    const up = await upstream(true);
    const [port1, port2] = (await freePorts(2)) as [number, number];
    const strict = await start(['reverse-proxy', '--from', `:${port1}`, '--to', `https://127.0.0.1:${up}`], await tempDir());
    assert.match(strict.output(), /http:\/\/:\d+ \{/);
    const refused = await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port1}/`]);
    assert.equal(refused.stdout, '502', 'an unverifiable upstream certificate fails');
    assert.equal((await strict.stop()).code, 0);

    const insecure = await start(['reverse-proxy', '--from', `http://127.0.0.1:${port2}`, '--to', `https://127.0.0.1:${up}`, '--insecure'], await tempDir());
    assert.match(insecure.output(), /tls_insecure_skip_verify/);
    const got = await curl([`http://127.0.0.1:${port2}/`]);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(JSON.parse(got.stdout), { host: `127.0.0.1:${port2}`, test: null, secure: true });
    assert.equal((await insecure.stop()).code, 0);
  });

  test('bad flags are usage errors (exit 2) naming the flag; a port in use fails the start (exit 1) and leaves no file behind', async () => {
    const noTo = await runCli(['reverse-proxy', '--from', 'localhost:1']);
    assert.equal(noTo.code, 2);
    assert.match(noTo.stderr, /--to is required/);
    const path = await runCli(['reverse-proxy', '--from', 'localhost/api', '--to', ':1']);
    assert.equal(path.code, 2);
    assert.match(path.stderr, /--from "localhost\/api": paths are not allowed/);
    const header = await runCli(['reverse-proxy', '--to', ':1', '--header-up', 'no colon']);
    assert.equal(header.code, 2);
    assert.match(header.stderr, /--header-up "no colon": expected "Field: value"/);

    const [port] = (await freePorts(1)) as [number];
    const holder = http.createServer();
    await new Promise<void>((resolve) => holder.listen(port, resolve));
    cleanups.push(() => new Promise((resolve) => holder.close(resolve)));
    const busy = await runCli(['reverse-proxy', '--from', `:${port}`, '--to', ':1'], { env: { MY_SERVER_STORAGE: await tempDir() } });
    assert.equal(busy.code, 1, busy.stderr);
    assert.match(busy.stderr, /EADDRINUSE|in use/);
    const file = /serving this Proxyfile \(([^)]+)\)/.exec(busy.stderr)?.[1];
    assert.ok(file !== undefined, busy.stderr);
    assert.equal(await exists(file), false, 'the generated Proxyfile is removed after a failed start');
  });
});

describe('file-server', () => {
  test('--listen 127.0.0.1:PORT --root DIR serves files and index.html, 404 for a folder without one; --browse lists it', async () => {
    const site = await tempDir();
    await writeFile(join(site, 'index.html'), '<h1>home</h1>\n');
    await mkdir(join(site, 'docs'));
    await writeFile(join(site, 'docs', 'read me.txt'), 'text\n');
    const [port1, port2] = (await freePorts(2)) as [number, number];

    const plain = await start(['file-server', '--listen', `127.0.0.1:${port1}`, '--root', site], await tempDir());
    assert.match(plain.output(), /default_bind 127\.0\.0\.1\n/);
    assert.deepEqual(await curl([`http://127.0.0.1:${port1}/`]), { code: 0, stdout: '<h1>home</h1>\n', stderr: '' });
    assert.equal((await curl([`http://127.0.0.1:${port1}/docs/read%20me.txt`])).stdout, 'text\n');
    assert.equal((await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port1}/docs/`])).stdout, '404');
    assert.equal((await plain.stop()).code, 0);

    // A relative --root is the working directory's.
    const listing = await start(['file-server', '-l', `127.0.0.1:${port2}`, '-r', '.', '-b'], await tempDir(), site);
    assert.match(listing.output(), new RegExp(`root \\* ${site.replaceAll('.', '\\.')}\n`));
    const got = await curl([`http://127.0.0.1:${port2}/docs/`]);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /<a href="\.\/read%20me\.txt">read me\.txt<\/a>/);
    assert.equal((await listing.stop()).code, 0);
  });

  test('a --root that is not a folder, or a --listen without a port, is a usage error', async () => {
    const missing = await runCli(['file-server', '--root', '/nonexistent/my-server-root', '--listen', '127.0.0.1:1']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--root "\/nonexistent\/my-server-root": not a folder/);
    const noPort = await runCli(['file-server', '--listen', '127.0.0.1']);
    assert.equal(noPort.code, 2);
    assert.match(noPort.stderr, /--listen "127\.0\.0\.1": needs a :port/);
  });
});
