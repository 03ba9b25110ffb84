import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { MyServerError } from '../../../src/errors.ts';
import { listen } from '../../../src/util/listen.ts';

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

test('listen resolves once the server accepts connections and names the address', async () => {
  const server = net.createServer((s) => s.end('hi'));
  try {
    const l = await listen(server, 0, '127.0.0.1');
    assert.equal(l.address, '127.0.0.1:0');
    const port = (server.address() as net.AddressInfo).port;
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      let data = '';
      c.on('data', (d) => (data += d.toString()));
      c.on('end', () => resolve(data));
      c.on('error', reject);
    });
    assert.equal(got, 'hi');
  } finally {
    await close(server);
  }
});

test('listen on a port in use rejects with MS_ERR_LISTEN naming host, port and errno code', async () => {
  const first = net.createServer();
  await listen(first, 0, '127.0.0.1');
  const port = (first.address() as net.AddressInfo).port;
  const second = net.createServer();
  try {
    await assert.rejects(listen(second, port, '127.0.0.1'), (err) => {
      assert.ok(err instanceof MyServerError);
      assert.equal(err.code, 'MS_ERR_LISTEN');
      assert.equal(err.message, `listening on 127.0.0.1:${port}: EADDRINUSE`);
      return true;
    });
    // The failed attempt leaves no 'error' listener behind that would swallow later errors.
    assert.equal(second.listenerCount('error'), 0);
  } finally {
    await close(first);
  }
});

test('listen writes IPv6 hosts in brackets and no host as *', async () => {
  const first = net.createServer();
  await listen(first, 0, '127.0.0.1');
  const port = (first.address() as net.AddressInfo).port;
  try {
    // Same port on all interfaces collides with the 127.0.0.1 listener.
    await assert.rejects(listen(net.createServer(), port, undefined), { message: new RegExp(`^listening on \\*:${port}: `) });
    await assert.rejects(listen(net.createServer(), port, '::ffff:127.0.0.1'), { message: new RegExp(`^listening on \\[::ffff:127\\.0\\.0\\.1\\]:${port}: `) });
  } finally {
    await close(first);
  }
});
