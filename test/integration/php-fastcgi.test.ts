/**
 * php_fastcgi against a real php-fpm (test/helpers/php-fpm.ts), through the real request path
 * (src/http → router → routes/handlers/php-fastcgi.ts → fastcgi/): a WordPress-style front
 * controller, PATH_INFO, a 10 MiB upload checked by md5 in PHP, a streamed response, headers and
 * status set by PHP, the canonical `/` redirect, static files falling through to file_server, the
 * unix socket pool, keep-alive reuse, php-fpm down (502) and too slow (504).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Exchange, FastCgiPool, type ResponseSink } from '../../src/fastcgi/client.ts';
import type { CgiHead } from '../../src/fastcgi/cgi-response.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { curl, localRoot, loopbackGlobals, verifiedHandshake } from '../helpers/clients.ts';
import { freePort, freePorts } from '../helpers/ports.ts';
import { startServer, type RunningServer } from '../helpers/run-server.ts';
import { silentLogger } from '../../src/log.ts';
import { setVar } from '../../src/routes/context.ts';
import { phpFastcgi } from '../../src/routes/handlers/php-fastcgi.ts';
import { contextOf, get, serve, serveSites, type Served } from '../unit/routes/serve.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-php-'));
const root = path.join(dir, 'www');
const signal = path.join(dir, 'go-on');
let fpm: PhpFpm;
let site: Served;
/** A TCP relay in front of php-fpm's TCP pool that counts the connections my-server opens. */
let relay: net.Server;
let relayed = 0;
/** A second relay, for load balancing: round robin sends it every other request. */
let relay2: net.Server;
let relayed2 = 0;
/** FastCGI BEGIN_REQUEST records (request id 1) seen by the second relay. */
let begun2 = 0;
const BEGIN = Buffer.from([1, 1, 0, 1, 0, 8, 0, 0]);
/** `my-server run` with HTTPS (local CA), for HTTP/2 and the log. */
let server: RunningServer;
let ports: { http: number; https: number };

const INDEX = `<?php
$keys = ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'DOCUMENT_ROOT', 'DOCUMENT_URI', 'REQUEST_URI', 'QUERY_STRING',
  'REQUEST_METHOD', 'CONTENT_TYPE', 'CONTENT_LENGTH', 'SERVER_NAME', 'SERVER_PORT', 'REMOTE_ADDR', 'REMOTE_PORT',
  'SERVER_PROTOCOL', 'GATEWAY_INTERFACE', 'HTTP_HOST', 'HTTP_X_CUSTOM', 'HTTP_PROXY', 'HTTPS', 'PHP_SELF', 'MY_ENV'];
$out = [];
foreach ($keys as $k) { $out[$k] = $_SERVER[$k] ?? null; }
$out['GET'] = $_GET;
$out['pid'] = getmypid();
header('Content-Type: application/json');
echo json_encode($out);
`;

before(async () => {
  mkdirSync(path.join(root, 'sub'), { recursive: true });
  writeFileSync(path.join(root, 'index.php'), INDEX);
  writeFileSync(path.join(root, 'sub/index.php'), '<?php echo "sub index";');
  writeFileSync(path.join(root, 'style.css'), 'body{}');
  writeFileSync(path.join(root, 'upload.php'), `<?php
$in = fopen('php://input', 'rb'); $ctx = hash_init('md5'); $n = 0;
while (!feof($in)) { $b = fread($in, 65536); $n += strlen($b); hash_update($ctx, $b); }
echo json_encode(['md5' => hash_final($ctx), 'length' => $n]);
`);
  writeFileSync(path.join(root, 'stream.php'), `<?php
echo "first\\n"; flush();
$until = microtime(true) + 10;
while (!file_exists(${JSON.stringify(signal)}) && microtime(true) < $until) { usleep(20000); }
echo file_exists(${JSON.stringify(signal)}) ? "second\\n" : "timed-out\\n";
`);
  writeFileSync(path.join(root, 'created.php'), `<?php
header('X-A: 1'); header('Set-Cookie: a=1'); header('Set-Cookie: b=2', false); http_response_code(201); echo 'created';
`);
  writeFileSync(path.join(root, 'moved.php'), `<?php header('Location: /elsewhere');`);
  writeFileSync(path.join(root, 'slow.php'), '<?php sleep(2); echo "late";');
  writeFileSync(path.join(root, 'nap.php'), '<?php usleep(300000); echo "rested";');
  writeFileSync(path.join(root, 'warn.php'), '<?php error_log("php-stderr-canary"); echo "ok";');
  writeFileSync(path.join(root, 'big.php'), '<?php header("Content-Type: application/octet-stream"); for ($i = 0; $i < 320; $i++) { echo str_repeat(chr(65 + $i % 26), 65536); }');
  fpm = await startPhpFpm();
  const down = await freePort();
  const makeRelay = async (count: () => void, onData?: (b: Buffer) => void): Promise<[net.Server, number]> => {
    const server = net.createServer((client) => {
      count();
      if (onData) client.on('data', onData);
      const upstream = net.connect({ host: '127.0.0.1', port: fpm.port });
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return [server, (server.address() as net.AddressInfo).port];
  };
  const [r1, relayPort] = await makeRelay(() => relayed++);
  const [r2, relayPort2] = await makeRelay(
    () => relayed2++,
    (b) => {
      for (let at = b.indexOf(BEGIN); at >= 0; at = b.indexOf(BEGIN, at + 1)) begun2++;
    },
  );
  relay = r1;
  relay2 = r2;
  site = await serveSites(
    `
http://php.test:8080 {
	php_fastcgi 127.0.0.1:${fpm.port} {
		root ${root}
		env MY_ENV "from {host}"
	}
	file_server {
		root ${root}
	}
}
http://sock.test:8080 {
	php_fastcgi unix/${fpm.socket} {
		root ${root}
	}
}
http://ka.test:8080 {
	php_fastcgi 127.0.0.1:${relayPort} {
		root ${root}
	}
}
http://first.test:8080 {
	php_fastcgi 127.0.0.1:${down} unix/${fpm.socket} {
		root ${root}
		lb_policy first
	}
}
http://rr.test:8080 {
	php_fastcgi unix/${fpm.socket} 127.0.0.1:${relayPort2} {
		root ${root}
	}
}
http://custom.test:8080 {
	php_fastcgi unix/${fpm.socket} {
		root ${root}
		try_files {path} =404
	}
}
http://off.test:8080 {
	# respond sorts before php_fastcgi (Caddy's directive order): route keeps the order written.
	route {
		php_fastcgi unix/${fpm.socket} {
			root ${root}
			index off
		}
		respond "fell through {path}"
	}
}
http://slow.test:8080 {
	php_fastcgi 127.0.0.1:${fpm.port} {
		root ${root}
		read_timeout 300ms
	}
}
http://down.test:8080 {
	php_fastcgi 127.0.0.1:${down} {
		root ${root}
		dial_timeout 1s
	}
}
`,
    8080,
  );
});

after(async () => {
  await server?.close();
  await site?.close();
  relay?.close();
  relay2?.close();
  await fpm?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const req = (p: string, host = 'php.test', headers: Record<string, string> = {}, method = 'GET') => get(site.port, p, { host, ...headers }, method);
const json = (b: Buffer): Record<string, unknown> => JSON.parse(b.toString()) as Record<string, unknown>;

test('front controller: an unknown path runs index.php with the CGI environment of the original request', async () => {
  const r = await req('/blog/hello-world?p=1&q=a%20b', 'php.test', { 'x-custom': 'yes', proxy: 'http://evil' });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.headers['content-type'], 'application/json');
  const env = json(r.body);
  assert.equal(env['SCRIPT_FILENAME'], path.join(root, 'index.php'));
  assert.equal(env['SCRIPT_NAME'], '/index.php');
  assert.equal(env['PHP_SELF'], '/index.php');
  assert.equal(env['PATH_INFO'], '');
  assert.equal(env['DOCUMENT_ROOT'], root);
  assert.equal(env['DOCUMENT_URI'], '/index.php');
  assert.equal(env['REQUEST_URI'], '/blog/hello-world?p=1&q=a%20b');
  assert.equal(env['QUERY_STRING'], 'p=1&q=a%20b');
  assert.deepEqual(env['GET'], { p: '1', q: 'a b' });
  assert.equal(env['REQUEST_METHOD'], 'GET');
  assert.equal(env['SERVER_NAME'], 'php.test');
  assert.equal(env['SERVER_PORT'], '80');
  assert.equal(env['REMOTE_ADDR'], '127.0.0.1');
  assert.match(String(env['REMOTE_PORT']), /^\d+$/);
  assert.equal(env['SERVER_PROTOCOL'], 'HTTP/1.1');
  assert.equal(env['GATEWAY_INTERFACE'], 'CGI/1.1');
  assert.equal(env['HTTP_HOST'], 'php.test');
  assert.equal(env['HTTP_X_CUSTOM'], 'yes');
  assert.equal(env['HTTP_PROXY'], null, 'a Proxy header must not become HTTP_PROXY (httpoxy)');
  assert.equal(env['HTTPS'], null);
  assert.equal(env['MY_ENV'], 'from php.test');
});

test('PATH_INFO: /index.php/a/b runs index.php with PATH_INFO /a/b', async () => {
  const r = await req('/index.php/a/b?x=1');
  assert.equal(r.status, 200, r.body.toString());
  const env = json(r.body);
  assert.equal(env['SCRIPT_NAME'], '/index.php');
  assert.equal(env['SCRIPT_FILENAME'], path.join(root, 'index.php'));
  assert.equal(env['PATH_INFO'], '/a/b');
  assert.equal(env['DOCUMENT_URI'], '/index.php');
  assert.equal(env['REQUEST_URI'], '/index.php/a/b?x=1');
});

test('a directory holding index.php: 308 to the path with a slash, keeping the query; with the slash its index runs', async () => {
  const r = await req('/sub?a=1');
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, '/sub/?a=1');
  const s = await req('/sub/');
  assert.equal(s.status, 200);
  assert.equal(s.body.toString(), 'sub index');
});

test('a static file that exists goes on to file_server', async () => {
  const r = await req('/style.css');
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'body{}');
  assert.match(String(r.headers['content-type']), /^text\/css/);
});

test('status and headers set by PHP reach the client; repeated Set-Cookie stays repeated; Location alone is a 302', async () => {
  const r = await req('/created.php');
  assert.equal(r.status, 201);
  assert.equal(r.headers['x-a'], '1');
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(r.body.toString(), 'created');
  const m = await req('/moved.php');
  assert.equal(m.status, 302);
  assert.equal(m.headers.location, '/elsewhere');
});

test('a 10 MiB POST body is streamed to PHP intact (md5 computed in PHP)', async () => {
  const body = randomBytes(10 * 1024 * 1024);
  const r = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const rq = http.request(
      { host: '127.0.0.1', port: site.port, path: '/upload.php', method: 'POST', headers: { host: 'php.test', 'content-type': 'application/octet-stream', 'content-length': body.length }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    rq.on('error', reject);
    // In pieces, as a client uploading over a network would.
    for (let at = 0; at < body.length; at += 1024 * 1024) rq.write(body.subarray(at, at + 1024 * 1024));
    rq.end();
  });
  assert.equal(r.status, 200, r.body.toString());
  assert.deepEqual(json(r.body), { md5: createHash('md5').update(body).digest('hex'), length: body.length });
});

test('a streamed response: the first chunk arrives while the script is still running', async () => {
  rmSync(signal, { force: true });
  const text = await new Promise<string>((resolve, reject) => {
    const rq = http.get({ host: '127.0.0.1', port: site.port, path: '/stream.php', headers: { host: 'php.test' }, agent: false }, (res) => {
      let got = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        got += c;
        // The script waits for this file before printing its second line: if the first chunk
        // were held back until the script ended, this would never run and it would time out.
        if (got === 'first\n' && !existsSync(signal)) writeFileSync(signal, '1');
      });
      res.on('end', () => resolve(got));
    });
    rq.on('error', reject);
  });
  assert.equal(text, 'first\nsecond\n');
});

test('the unix socket upstream serves the same application', async () => {
  const r = await req('/index.php/x', 'sock.test');
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(json(r.body)['PATH_INFO'], '/x');
});

/** One request straight to php-fpm's TCP pool on a fresh connection, with the client under test. */
async function direct(params: Record<string, string>): Promise<{ head?: CgiHead; body: string; stderr: string }> {
  const pool = new FastCgiPool({ network: 'tcp', host: '127.0.0.1', port: fpm.port }, { dialTimeoutMs: 2000 });
  const { socket } = await pool.acquire();
  const out: { head?: CgiHead; body: string; stderr: string } = { body: '', stderr: '' };
  const sink: ResponseSink = {
    head: (h) => (out.head = h),
    write: (c) => ((out.body += c.toString()), true),
    onDrain: () => {},
    end: () => {},
  };
  const ex = new Exchange(socket, { params: Object.entries(params), readTimeoutMs: 5000, writeTimeoutMs: 5000, onStderr: (t) => (out.stderr += t) }, sink);
  await ex.done;
  socket.destroy();
  pool.close();
  return out;
}

test('keep-alive: sequential requests reuse one pooled connection to php-fpm', async () => {
  for (let i = 0; i < 12; i++) {
    const r = await req(`/k${i}`, 'ka.test');
    assert.equal(r.status, 200);
    assert.equal(json(r.body)['REQUEST_URI'], `/k${i}`);
  }
  assert.equal(relayed, 1);
});

test('stderr of the script comes back as STDERR records (capture_stderr logs them)', async () => {
  const r = await direct({ SCRIPT_FILENAME: path.join(root, 'warn.php'), SCRIPT_NAME: '/warn.php', REQUEST_METHOD: 'GET', QUERY_STRING: '' });
  assert.equal(r.head?.status, 200);
  assert.equal(r.body, 'ok');
  assert.match(r.stderr, /php-stderr-canary/);
});

test('several upstreams: an unreachable one is skipped; round robin alternates', async () => {
  const f = await req('/index.php/f', 'first.test');
  assert.equal(f.status, 200, f.body.toString());
  assert.equal(json(f.body)['PATH_INFO'], '/f');
  for (let i = 0; i < 4; i++) assert.equal((await req(`/rr${i}`, 'rr.test')).status, 200);
  // Two of the four went to the relayed upstream, on one kept-alive connection.
  assert.equal(begun2, 2);
  assert.equal(relayed2, 1);
});

test('more concurrent requests than php-fpm workers: none waits behind a worker held by an idle pooled connection', async () => {
  // The unix pool has 3 workers. Six requests at once: three queue in php-fpm's backlog; when the
  // first three finish, their connections must not be pooled (each would keep its worker waiting
  // for a next request on it) while the queued three still wait for an answer. Ideal: ~600 ms;
  // with such pooling: the 2 s idle timeout plus 300 ms (measured 2.6 s).
  const t0 = Date.now();
  const replies = await Promise.all(Array.from({ length: 6 }, () => req('/nap.php', 'sock.test')));
  const elapsed = Date.now() - t0;
  for (const r of replies) assert.equal(r.body.toString(), 'rested');
  assert.ok(elapsed < 2000, `six 300 ms requests on 3 workers took ${elapsed} ms (an idle pooled connection held a worker)`);
});

test('try_files {path} =404: an existing script runs, anything else is 404; index off: no rewrite, non-PHP paths go on', async () => {
  assert.equal((await req('/created.php', 'custom.test')).status, 201);
  assert.equal((await req('/blog/post', 'custom.test')).status, 404);
  const sub = await req('/sub', 'custom.test');
  assert.equal(sub.status, 404, 'no {path}/index.php entry: no canonical redirect either');
  const off = await req('/blog/post', 'off.test');
  assert.equal(off.body.toString(), 'fell through /blog/post');
  assert.equal((await req('/sub', 'off.test')).body.toString(), 'fell through /sub');
  assert.equal(json((await req('/index.php/p', 'off.test')).body)['PATH_INFO'], '/p');
});

test('without root, the `root` request variable is the document root', async () => {
  // No `root` directive in this branch sets the variable, so the handler is compiled by hand here.
  const compiled = phpFastcgi(
    {
      kind: 'php_fastcgi',
      pos: { file: 't', line: 1, col: 1 },
      upstreams: [{ scheme: 'unix', host: '', port: 0, path: fpm.socket }],
      split: ['.php'],
      index: 'index.php',
      tryFiles: [],
      env: [],
      resolveRootSymlink: false,
      dialTimeoutMs: 1000,
      readTimeoutMs: 0,
      writeTimeoutMs: 0,
      captureStderr: false,
      lbPolicy: 'round_robin',
    },
    { log: silentLogger(), handlesErrors: false, compile: () => assert.fail('no nested routes'), proxy: () => assert.fail('no proxy') },
  );
  const s = await serve(async (rq, rs) => {
    const ctx = contextOf(rq);
    setVar(ctx, 'root', root);
    if (!(await compiled.step(rq, rs, ctx))) rs.end('not handled');
  });
  try {
    const r = await get(s.port, '/anything', { host: 'vars.test' });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(json(r.body)['DOCUMENT_ROOT'], root);
    assert.equal(json(r.body)['SCRIPT_FILENAME'], path.join(root, 'index.php'));
  } finally {
    await s.close();
  }
});

test('php-fpm too slow: 504 after read_timeout', async () => {
  const t0 = Date.now();
  const r = await req('/slow.php', 'slow.test');
  assert.equal(r.status, 504);
  assert.ok(Date.now() - t0 < 1800, 'answered before the script finished');
});

test('php-fpm down: 502', async () => {
  const r = await req('/index.php', 'down.test');
  assert.equal(r.status, 502);
});

test('a 20 MiB response arrives whole through the backpressure path', async () => {
  const r = await req('/big.php');
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 320 * 65536);
  let want = createHash('md5');
  for (let i = 0; i < 320; i++) want = want.update(Buffer.alloc(65536, 65 + (i % 26)));
  assert.equal(createHash('md5').update(r.body).digest('hex'), want.digest('hex'));
});

test('my-server run over HTTPS and HTTP/2: HTTPS=on, HTTP/2.0, an h2 upload, and capture_stderr in the log', { timeout: 120_000 }, async () => {
  const [http1, https] = (await freePorts(2)) as [number, number];
  ports = { http: http1, https };
  server = await startServer(
    (env) =>
      loopbackGlobals(env, ports, '\tlocal_certs\n') +
      `localhost {
	php_fastcgi 127.0.0.1:${fpm.port} {
		root ${root}
		capture_stderr
	}
}
`,
  );
  const ca = await localRoot(server);
  await verifiedHandshake(ports.https, 'localhost', ca.pem);
  const base = ['--http2', '--max-time', '10', '--cacert', ca.file, '--resolve', `localhost:${ports.https}:127.0.0.1`, '-s'];
  const g = await curl([...base, `https://localhost:${ports.https}/index.php/h2?x=1`]);
  assert.equal(g.code, 0, g.stderr + server.stderr().slice(-2000));
  const env = JSON.parse(g.stdout) as Record<string, unknown>;
  assert.equal(env['SERVER_PROTOCOL'], 'HTTP/2.0');
  assert.equal(env['HTTPS'], 'on');
  assert.equal(env['SERVER_PORT'], String(ports.https));
  assert.equal(env['HTTP_HOST'], `localhost:${ports.https}`);
  assert.equal(env['PATH_INFO'], '/h2');

  const upload = path.join(dir, 'upload.bin');
  const data = randomBytes(3 * 1024 * 1024);
  writeFileSync(upload, data);
  const p = await curl([...base, '-H', 'content-type: application/octet-stream', '--data-binary', `@${upload}`, `https://localhost:${ports.https}/upload.php`]);
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(JSON.parse(p.stdout), { md5: createHash('md5').update(data).digest('hex'), length: data.length });

  const w = await curl([...base, `https://localhost:${ports.https}/warn.php`]);
  assert.equal(w.stdout, 'ok');
  await server.waitForOutput(/php-stderr-canary/, 5000);
});
