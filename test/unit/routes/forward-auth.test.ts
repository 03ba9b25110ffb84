/**
 * forward_auth through the real router with real upstreams: an auth upstream in the manner of
 * Authelia/Authentik (200 with Remote-* for a good session cookie, 302 to its login page
 * otherwise) and a protected upstream that echoes what it got.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { parseConfig } from '../../../src/config/index.ts';
import { ConfigError } from '../../../src/config/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { SiteTable } from '../../../src/routes/site-table.ts';
import { contextOf, serve, withSites, type Reply } from './serve.ts';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

async function server(answer: (seen: Seen, res: http.ServerResponse) => void): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const one = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(one);
      answer(one, res);
    });
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return {
    port: (s.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      }),
  };
}

const authUpstream = () =>
  server((seen, res) => {
    if (/(^|;\s*)session=good(;|$)/.test(String(seen.headers.cookie ?? ''))) {
      res.writeHead(200, { 'remote-user': 'alice', 'remote-groups': 'admins,dev', 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    const rd = encodeURIComponent(`https://${seen.headers['x-forwarded-host'] ?? ''}${seen.headers['x-forwarded-uri'] ?? ''}`);
    res.writeHead(302, { location: `https://auth.test/login?rd=${rd}`, 'set-cookie': 'auth_flow=1', 'content-type': 'text/html' });
    res.end('<a href="https://auth.test/login">login</a>');
  });

const appUpstream = () =>
  server((seen, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(seen));
  });

function site(auth: number, app: number): string {
  return `
http://site.test:8080 {
	reverse_proxy 127.0.0.1:${app}
	forward_auth /private/* 127.0.0.1:${auth} {
		uri /api/verify?rd=https://auth.test/
		copy_headers Remote-User Remote-Groups>X-Groups Remote-Email
	}
}
`;
}

/** A request with a body, which the withSites helper does not send. */
function post(port: number, path: string, headers: Record<string, string>, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { host: 'site.test', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), rawHeaders: res.rawHeaders }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('forward_auth without a session: the auth upstream login redirect goes to the client, the app is not reached', async () => {
  const auth = await authUpstream();
  const app = await appUpstream();
  try {
    await withSites(site(auth.port, app.port), async (request) => {
      const r = await request('/private/docs?page=2', 'site.test', {}, 'DELETE');
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, `https://auth.test/login?rd=${encodeURIComponent('https://site.test/private/docs?page=2')}`);
      assert.deepEqual(r.headers['set-cookie'], ['auth_flow=1']);
      assert.match(r.body.toString(), /login/);
      assert.equal(app.seen.length, 0);
      const [check] = auth.seen;
      assert.equal(check?.method, 'GET');
      assert.equal(check?.url, '/api/verify?rd=https://auth.test/');
      assert.equal(check?.headers['x-forwarded-method'], 'DELETE');
      assert.equal(check?.headers['x-forwarded-uri'], '/private/docs?page=2');
      // The matcher keeps public paths away from the auth upstream.
      const pub = await request('/public');
      assert.equal(pub.status, 200);
      assert.equal((JSON.parse(pub.body.toString()) as Seen).url, '/public');
      assert.equal(auth.seen.length, 1);
    });
  } finally {
    await auth.close();
    await app.close();
  }
});

test('forward_auth with a session: the copied headers replace what the client sent, the app gets the request and its body', async () => {
  const auth = await authUpstream();
  const app = await appUpstream();
  try {
    await withSitesPort(site(auth.port, app.port), async (port) => {
      const r = await post(
        port,
        '/private/upload?x=1',
        { cookie: 'theme=dark; session=good', 'remote-user': 'mallory', 'remote-email': 'evil@example.com', 'content-type': 'text/plain' },
        'the payload',
      );
      assert.equal(r.status, 200);
      const got = JSON.parse(r.body.toString()) as Seen;
      assert.equal(got.method, 'POST');
      assert.equal(got.url, '/private/upload?x=1');
      assert.equal(got.body, 'the payload');
      assert.equal(got.headers['remote-user'], 'alice');
      assert.equal(got.headers['x-groups'], 'admins,dev');
      assert.equal(got.headers['remote-email'], undefined, 'a field the auth response lacks is deleted, not left as the client sent it');
      // The auth upstream got a GET without the body.
      const check = auth.seen.at(-1);
      assert.equal(check?.method, 'GET');
      assert.equal(check?.body, '');
      assert.equal(check?.headers['content-length'], undefined);
      assert.equal(check?.headers['x-forwarded-method'], 'POST');
      assert.equal(check?.headers['x-forwarded-uri'], '/private/upload?x=1');
    });
  } finally {
    await auth.close();
    await app.close();
  }
});

test('forward_auth with request_buffers: the auth check goes bodiless and the app still gets every byte of the body', async () => {
  const auth = await authUpstream();
  const app = await appUpstream();
  // Larger than the buffer, so the old path (buffer, then drop it with the rewrite) lost the start.
  const payload = 'p'.repeat(20_000) + 'end';
  const proxyfile = `
http://site.test:8080 {
	reverse_proxy 127.0.0.1:${app.port}
	forward_auth 127.0.0.1:${auth.port} {
		uri /api/verify
		copy_headers Remote-User
		request_buffers 4k
	}
}
`;
  try {
    await withSitesPort(proxyfile, async (port) => {
      const small = await post(port, '/upload', { cookie: 'session=good', 'content-type': 'text/plain' }, 'tiny body');
      assert.equal(small.status, 200);
      assert.equal((JSON.parse(small.body.toString()) as Seen).body, 'tiny body', 'a body within the buffer is not lost');
      const r = await post(port, '/upload', { cookie: 'session=good', 'content-type': 'text/plain' }, payload);
      assert.equal(r.status, 200);
      const got = JSON.parse(r.body.toString()) as Seen;
      assert.equal(got.body.length, payload.length);
      assert.equal(got.body, payload);
      assert.equal(got.headers['remote-user'], 'alice');
      const check = auth.seen.at(-1);
      assert.equal(check?.method, 'GET');
      assert.equal(check?.body, '');
    });
  } finally {
    await auth.close();
    await app.close();
  }
});

/** withSites, handing over the port for requests the Request helper cannot make. */
async function withSitesPort(proxyfile: string, fn: (port: number) => Promise<void>): Promise<void> {
  const config = await parseConfig(proxyfile, { filename: 'test' });
  const table = new SiteTable(config.sites, 'http', 8080, silentLogger());
  const s = await serve(async (req, res) => {
    const ctx = contextOf(req);
    await table.find(ctx.host)!.handle(req, res, ctx);
  });
  try {
    await fn(s.port);
  } finally {
    await s.close();
    await table.close();
  }
}

async function configError(text: string): Promise<string> {
  try {
    await parseConfig(text, { filename: 'test' });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'no error';
}

test('forward_auth errors: missing uri, duplicate uri, empty copy_headers', async () => {
  assert.match(await configError('http://a.test {\n\tforward_auth 127.0.0.1:9 {\n\t\tcopy_headers Remote-User\n\t}\n}\n'), /'uri' subdirective is required/);
  assert.match(await configError('http://a.test {\n\tforward_auth 127.0.0.1:9 {\n\t\turi /a\n\t\turi /b\n\t}\n}\n'), /duplicate uri: \/b/);
  assert.match(await configError('http://a.test {\n\tforward_auth 127.0.0.1:9 {\n\t\turi /a\n\t\tcopy_headers\n\t}\n}\n'), /copy_headers: missing argument/);
});
