import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, reconfigureLogger, silentLogger } from '../../src/log.ts';

async function lines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Waits until `file` holds `n` lines (file destinations write asynchronously). */
async function waitLines(file: string, n: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 100; i++) {
    const got = await lines(file);
    if (got.length >= n) return got;
    await sleep(20);
  }
  return lines(file);
}

test('reconfigureLogger moves a logger and the children it already has to a new file and level', async (t) => {
  const saved = process.env['MY_SERVER_LOG_LEVEL'];
  delete process.env['MY_SERVER_LOG_LEVEL'];
  t.after(() => {
    if (saved !== undefined) process.env['MY_SERVER_LOG_LEVEL'] = saved;
  });
  const dir = await mkdtemp(join(tmpdir(), 'my-server-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = join(dir, 'a.log');
  const b = join(dir, 'b.log');

  const root = createLogger({ output: a, level: 'info', format: 'json' });
  const child = root.child({ logger: 'acme' });
  const grandchild = child.child({ name: 'x.test' });
  child.debug('dropped at info');
  child.info('before');
  assert.deepEqual((await waitLines(a, 1)).map((l) => [l['logger'], l['msg']]), [['acme', 'before']]);

  reconfigureLogger(root, { output: b, level: 'debug', format: 'json' });
  child.debug('child debug after');
  grandchild.info('grandchild after');
  root.warn('root after');
  const after = await waitLines(b, 3);
  assert.deepEqual(after.map((l) => [l['level'], l['logger'], l['msg']]), [
    ['debug', 'acme', 'child debug after'],
    ['info', 'acme', 'grandchild after'],
    ['warn', 'my-server', 'root after'],
  ]);
  // Nothing more went to the old file.
  assert.deepEqual((await lines(a)).map((l) => l['msg']), ['before']);

  reconfigureLogger(root, { output: b, level: 'error', format: 'json' });
  grandchild.warn('dropped at error');
  grandchild.error('kept at error');
  assert.deepEqual((await waitLines(b, 4)).slice(3).map((l) => l['msg']), ['kept at error']);
});

test('MY_SERVER_LOG_LEVEL still wins over a reloaded level; loggers not made by createLogger are left alone', async (t) => {
  const saved = process.env['MY_SERVER_LOG_LEVEL'];
  process.env['MY_SERVER_LOG_LEVEL'] = 'warn';
  t.after(() => {
    if (saved === undefined) delete process.env['MY_SERVER_LOG_LEVEL'];
    else process.env['MY_SERVER_LOG_LEVEL'] = saved;
  });
  const dir = await mkdtemp(join(tmpdir(), 'my-server-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = createLogger({ output: join(dir, 'a.log'), level: 'info', format: 'json' });
  reconfigureLogger(root, { output: join(dir, 'a.log'), level: 'debug', format: 'json' });
  assert.equal(root.level, 'warn');
  const silent = silentLogger();
  reconfigureLogger(silent, { level: 'debug' });
  assert.equal(silent.level, 'silent');
});
