/**
 * `servers { timeouts { read_header idle }; max_header_size; keepalive_interval }` applied to a
 * listener (util/timeouts.ts connectionLimits/applyLimits, http/http-front.ts), and changed on a
 * running listener by configure() as a reload does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { parseConfig } from '../../../src/config/index.ts';
import { serverOptionsFor } from '../../../src/http/client-ip.ts';
import { HttpFront } from '../../../src/http/http-front.ts';
import { silentLogger } from '../../../src/log.ts';
import { connectionLimits, TIMEOUTS } from '../../../src/util/timeouts.ts';
import { freePort } from '../../helpers/ports.ts';

async function limitsOf(servers: string, port: number): Promise<ReturnType<typeof connectionLimits>> {
  const c = await parseConfig(`{\n${servers}\n}\nhttp://site.test:${port} {\n\trespond "ok"\n}\n`, { filename: 'test' });
  return connectionLimits(serverOptionsFor(c.globals.servers, port));
}

/** ms until the server closes a connection that sent `text` and then nothing. */
async function closedAfter(port: number, text: string): Promise<number> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = Date.now();
  socket.write(text);
  socket.resume();
  await once(socket, 'close');
  return Date.now() - started;
}

test('defaults without a servers block; a block for the port wins over the one without an address', async () => {
  assert.deepEqual(await limitsOf('', 8080), { protocols: { h1: true, h2: true, h2c: false }, headersMs: TIMEOUTS.headersMs, requestMs: 0, keepAliveMs: TIMEOUTS.keepAliveMs, idleMs: TIMEOUTS.idleMs, writeMs: 0 });
  const l = await limitsOf('\tservers {\n\t\ttimeouts {\n\t\t\tread_header 5s\n\t\t}\n\t}\n\tservers :8080 {\n\t\ttimeouts {\n\t\t\tread_header 2s\n\t\t\tread_body 30s\n\t\t\tidle 3m\n\t\t}\n\t\tkeepalive_interval 15s\n\t\tmax_header_size 4KB\n\t}', 8080);
  assert.equal(l.headersMs, 2000);
  assert.equal(l.requestMs, 30_000);
  assert.equal(l.keepAliveMs, 180_000);
  assert.ok(l.idleMs > 180_000, 'the socket inactivity limit never cuts a connection idle within the keep-alive time');
  assert.equal(l.keepaliveIntervalMs, 15_000);
  assert.equal(l.maxHeaderSize, 4000);
});

test('read_header closes a connection that stalls in its headers; idle closes a kept-alive one; max_header_size answers 431', async () => {
  const port = await freePort();
  const limits = await limitsOf('\tservers {\n\t\ttimeouts {\n\t\t\tread_header 1s\n\t\t\tidle 1s\n\t\t}\n\t\tmax_header_size 1KB\n\t}', port);
  const front = new HttpFront({
    onRequest: (_req, res) => res.end('ok'),
    onUpgrade: (_req, socket) => socket.destroy(),
    log: silentLogger(),
    limits,
  });
  await front.listen(port, ['127.0.0.1']);
  try {
    const stalled = await closedAfter(port, 'GET / HTTP/1.1\r\nHost: site.test\r\n');
    assert.ok(stalled >= 900 && stalled < 8000, `stalled headers closed after ${stalled} ms (default ${TIMEOUTS.headersMs})`);
    const idle = await closedAfter(port, 'GET / HTTP/1.1\r\nHost: site.test\r\n\r\n');
    assert.ok(idle >= 900 && idle < 8000, `idle keep-alive closed after ${idle} ms (default ${TIMEOUTS.keepAliveMs})`);
    const big = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-big': 'a'.repeat(2000) } });
    assert.equal(big.status, 431);
    // A reload changes the timeouts of the running listener.
    front.configure({ ...limits, headersMs: 4000 });
    const later = await closedAfter(port, 'GET / HTTP/1.1\r\nHost: site.test\r\n');
    assert.ok(later >= 3000, `after configure(), stalled headers closed after ${later} ms`);
  } finally {
    await front.close(0);
  }
});
