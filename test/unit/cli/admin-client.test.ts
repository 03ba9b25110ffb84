/**
 * The CLI's one admin API client (src/cli/admin-client.ts), used by `reload` and `health`: the
 * same address syntax for both, checked before anything is sent, and requests over TCP and a
 * unix socket to a real HTTP server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminRequest, adminTarget } from '../../../src/cli/admin-client.ts';
import { runCli, tempProxyfile } from '../../helpers/cli.ts';

async function recorder(listen: (s: http.Server) => Promise<void>): Promise<{ server: http.Server; seen: { method: string; url: string; host: string; type: string; body: string }[] }> {
  const seen: { method: string; url: string; host: string; type: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', type: req.headers['content-type'] ?? '', body });
      res.statusCode = req.url === '/load' ? 400 : 200;
      res.end(req.url === '/load' ? 'bad config\n' : 'ok');
    });
  });
  await listen(server);
  return { server, seen };
}

test('adminRequest reaches the API at ":PORT" on loopback and at "unix//PATH", with Host: localhost', async () => {
  const tcp = await recorder((s) => new Promise((r) => s.listen(0, '127.0.0.1', () => r())));
  const dir = await mkdtemp(join(tmpdir(), 'admin-client-'));
  const sock = join(dir, 'admin.sock');
  const unix = await recorder((s) => new Promise((r) => s.listen(sock, () => r())));
  try {
    const port = (tcp.server.address() as AddressInfo).port;
    assert.deepEqual(adminTarget(`:${port}`), { host: '127.0.0.1', port });
    assert.deepEqual(adminTarget(`0.0.0.0:${port}`), { host: '127.0.0.1', port });
    assert.deepEqual(adminTarget(`localhost:${port}`), { host: '127.0.0.1', port });
    assert.deepEqual(await adminRequest(adminTarget(`:${port}`), { method: 'GET', path: '/health', timeoutMs: 5_000 }), { status: 200, body: 'ok' });
    assert.deepEqual(
      await adminRequest(adminTarget(`unix/${sock}`), { method: 'POST', path: '/load', body: 'x {\n}\n', contentType: 'text/caddyfile', timeoutMs: 5_000 }),
      { status: 400, body: 'bad config\n' },
    );
    assert.deepEqual(tcp.seen, [{ method: 'GET', url: '/health', host: 'localhost', type: '', body: '' }]);
    assert.deepEqual(unix.seen, [{ method: 'POST', url: '/load', host: 'localhost', type: 'text/caddyfile', body: 'x {\n}\n' }]);
  } finally {
    tcp.server.close();
    unix.server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('adminRequest gives up after its timeout when the API does not answer', async () => {
  const server = http.createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as AddressInfo).port;
    await assert.rejects(adminRequest({ host: '127.0.0.1', port }, { method: 'GET', path: '/health', timeoutMs: 300 }), /no answer within 300 ms/);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('reload and health refuse the same malformed --address as a usage error naming it, before sending anything', async () => {
  const pf = await tempProxyfile('http://127.0.0.1:1 {\n\trespond "x"\n}\n');
  try {
    for (const command of ['reload', 'health']) {
      const r = await runCli([command, '--config', pf.file, '--address', 'nonsense']);
      assert.equal(r.code, 2, `${command}: ${r.stderr}`);
      assert.match(r.stderr, /invalid address "nonsense"/, command);
    }
  } finally {
    await pf.remove();
  }
});
