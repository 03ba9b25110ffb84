/**
 * GET /health: "ok" as before for everyone, and with Accept: application/json the state of the
 * storage registered last (src/storage/availability.ts), still 200 while that storage is down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AdminServer } from '../../../src/admin/admin-server.ts';
import { Metrics } from '../../../src/metrics/metrics.ts';
import { silentLogger } from '../../../src/log.ts';
import { reportStorageState, type StorageState } from '../../../src/storage/availability.ts';

function get(port: number, accept?: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, headers: accept === undefined ? {} : { Accept: accept } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
  });
}

test('/health answers ok, and its JSON form the state of the storage registered last', async () => {
  const server = new AdminServer({
    address: '127.0.0.1:0',
    log: silentLogger(),
    metrics: new Metrics({ log: silentLogger() }),
    app: { load: () => Promise.resolve(), reload: () => Promise.resolve(), certificates: () => Promise.resolve([]) },
  });
  await server.listen();
  const address = server.address();
  assert.ok(address !== null && typeof address !== 'string');
  const since = new Date('2026-01-02T03:04:05.000Z');
  let state: StorageState = { kind: 'redis', state: 'up', since };
  const unreportFile = reportStorageState(() => ({ kind: 'file', state: 'up', since }));
  const unreport = reportStorageState(() => state);
  try {
    assert.deepEqual(await get(address.port), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok' });
    const up = await get(address.port, 'application/json');
    assert.equal(up.status, 200);
    assert.equal(up.type, 'application/json');
    assert.deepEqual(JSON.parse(up.body), { status: 'ok', storage: { kind: 'redis', state: 'up', since: since.toISOString() } });

    state = { kind: 'redis', state: 'down', since, reason: 'no reply to PING within 1000 ms' };
    assert.equal((await get(address.port)).body, 'ok');
    const down = await get(address.port, 'text/html, application/json;q=0.9');
    assert.equal(down.status, 200);
    assert.deepEqual(JSON.parse(down.body), {
      status: 'ok',
      storage: { kind: 'redis', state: 'down', since: since.toISOString(), reason: 'no reply to PING within 1000 ms' },
    });

    // The redis stack closed (a reload back to files): the one registered before it reports again.
    unreport();
    assert.deepEqual(JSON.parse((await get(address.port, 'application/json')).body).storage, { kind: 'file', state: 'up', since: since.toISOString() });
  } finally {
    unreport();
    unreportFile();
    await server.close();
  }
});
