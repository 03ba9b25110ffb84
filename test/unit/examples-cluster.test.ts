/**
 * examples/cluster (docs/clustering.md "Three instances behind a load balancer"): no Docker runs
 * here, so what can be checked without it is: the Proxyfile every instance loads is valid and
 * names Redis storage, the files compose.yaml mounts exist, and the balancer sends ports 80 and
 * 443 to every my-server service compose.yaml defines, and to nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';

const DIR = join(import.meta.dirname, '..', '..', 'examples', 'cluster');
const compose = readFileSync(join(DIR, 'compose.yaml'), 'utf8');

test('examples/cluster: the shared Proxyfile is valid, with and without DOMAIN, and stores in Redis', async () => {
  const text = readFileSync(join(DIR, 'conf', 'Proxyfile'), 'utf8');
  for (const env of [{}, { DOMAIN: 'app.example.com' }]) {
    const config = await parseConfig(text, { filename: join(DIR, 'conf', 'Proxyfile'), env });
    assert.deepEqual(config.globals.storage, { kind: 'redis', url: 'redis://redis:6379', prefix: 'my-server' });
    assert.equal(config.warnings, undefined);
  }
});

test('examples/cluster: mounted files exist; haproxy reaches every my-server service on 80 and 443', () => {
  for (const [, src] of compose.matchAll(/"\.\/([^":]+):/g)) assert.ok(existsSync(join(DIR, src ?? '')), `compose.yaml mounts ./${src}`);
  const services = [...compose.matchAll(/^ {2}(my-server-[a-z]+):$/gm)].map((m) => m[1]);
  assert.deepEqual(services, ['my-server-a', 'my-server-b', 'my-server-c']);
  const haproxy = readFileSync(join(DIR, 'haproxy.cfg'), 'utf8');
  for (const port of [80, 443]) {
    const targets = [...haproxy.matchAll(new RegExp(`server \\w+ ([\\w-]+):${port} check`, 'g'))].map((m) => m[1]);
    assert.deepEqual(targets, services, `port ${port}`);
  }
  // Longer than the Proxyfile's grace_period (30s), so in-flight requests get all of it.
  for (const m of compose.matchAll(/stop_grace_period: (\d+)s/g)) assert.ok(Number(m[1]) > 30);
});
