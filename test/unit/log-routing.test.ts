import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeLogger, createLogger } from '../../src/log.ts';

async function records(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('named loggers take the lines they include; the default one leaves those out (as Caddy adapts it); each has its level and format', async (t) => {
  const saved = process.env['MY_SERVER_LOG_LEVEL'];
  delete process.env['MY_SERVER_LOG_LEVEL'];
  const dir = await mkdtemp(join(tmpdir(), 'my-server-route-'));
  t.after(async () => {
    if (saved !== undefined) process.env['MY_SERVER_LOG_LEVEL'] = saved;
    await rm(dir, { recursive: true, force: true });
  });
  const file = (n: string): string => join(dir, n);
  const root = createLogger({
    output: file('default.log'),
    format: 'json',
    level: 'info',
    loggers: [
      { output: file('access.log'), format: 'json', level: 'info', include: ['http.log.access'] },
      { output: file('tls.log'), format: { kind: 'filter', fields: [{ field: 'name', filter: 'delete' }], wrap: 'json' }, level: 'debug', include: ['tls'] },
      { output: file('errors.log'), format: 'json', level: 'error' },
    ],
  });
  root.child({ logger: 'http.log.access.log0' }).info({ status: 200 }, 'handled request');
  root.child({ logger: 'tls' }).debug({ name: 'a.test' }, 'handshake');
  root.child({ logger: 'acme' }).info('order');
  root.child({ logger: 'acme' }).error('failed');
  await closeLogger(root);

  const names = async (n: string): Promise<string[]> => (await records(file(n))).map((r) => `${String(r['logger'])}:${String(r['msg'])}`);
  assert.deepEqual(await names('access.log'), ['http.log.access.log0:handled request']);
  assert.deepEqual(await names('tls.log'), ['tls:handshake']);
  assert.equal((await records(file('tls.log')))[0]?.['name'], undefined, 'the tls logger filters its own lines');
  // default: not the included access and tls lines; info and up.
  assert.deepEqual(await names('default.log'), ['acme:order', 'acme:failed']);
  assert.deepEqual(await names('errors.log'), ['acme:failed']);
});
