import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { MyServerError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { Acceptors } from '../../../src/util/listen.ts';
import { freePort } from '../../helpers/ports.ts';

function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('one server accepts on several addresses (default_bind with two addresses)', async () => {
  const server = http.createServer((req, res) => res.end(`hi ${req.socket.localAddress}`));
  const acceptors = new Acceptors(server, silentLogger());
  const port = await freePort();
  try {
    await acceptors.listen(port, ['127.0.0.1', '127.0.0.2']);
    assert.equal(await get('127.0.0.1', port), 'hi 127.0.0.1');
    assert.equal(await get('127.0.0.2', port), 'hi 127.0.0.2');
  } finally {
    acceptors.close();
    server.closeAllConnections();
  }
});

test('the http.Server behind acceptors tracks connections, so idle ones can be closed', async () => {
  const server = http.createServer((_req, res) => res.end('x'));
  const acceptors = new Acceptors(server, silentLogger());
  const port = await freePort();
  await acceptors.listen(port, ['127.0.0.1']);
  const agent = new http.Agent({ keepAlive: true });
  try {
    await new Promise<void>((resolve, reject) => http.get({ host: '127.0.0.1', port, agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
    const socket = Object.values(agent.freeSockets)[0]?.[0];
    assert.ok(socket, 'a kept-alive socket');
    const closed = new Promise((r) => socket.once('close', r));
    server.closeIdleConnections();
    await closed;
  } finally {
    agent.destroy();
    acceptors.close();
  }
});

test('a port in use rejects with MS_ERR_LISTEN naming the address, and nothing stays listening', async () => {
  const first = new Acceptors(net.createServer(), silentLogger());
  const port = await freePort();
  await first.listen(port, ['127.0.0.2']);
  const second = new Acceptors(net.createServer(), silentLogger());
  try {
    await assert.rejects(second.listen(port, ['127.0.0.1', '127.0.0.2']), (err) => {
      assert.ok(err instanceof MyServerError);
      assert.equal(err.code, 'MS_ERR_LISTEN');
      assert.equal(err.message, `listening on 127.0.0.2:${port}: EADDRINUSE`);
      return true;
    });
    // The 127.0.0.1 listener opened before the failure was closed again.
    await assert.rejects(get('127.0.0.1', port), /ECONNREFUSED/);
    await assert.rejects(new Acceptors(net.createServer(), silentLogger()).listen(port, ['::ffff:127.0.0.2']), {
      message: new RegExp(`^listening on \\[::ffff:127\\.0\\.0\\.2\\]:${port}: `),
    });
  } finally {
    first.close();
  }
});
