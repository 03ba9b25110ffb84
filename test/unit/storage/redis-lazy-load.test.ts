/**
 * The Redis client is loaded only when Redis storage is opened: the whole `run` module graph and a
 * file storage resolve no @redis module, and opening a Redis storage does (so the check can see one).
 * Measured cost of loading it: docs/design.md "Redis storage: outages, health, loading on demand".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs `body` in a child Node whose module resolutions are recorded; prints those under @redis. */
async function redisModulesLoadedBy(body: string): Promise<string[]> {
  const script = `
import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); if (r.url.includes('/@redis/')) seen.push(r.url); return r; } });
${body}
console.log(JSON.stringify(seen));
process.exit(0);
`;
  const { stdout } = await execFileP(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]') as string[];
}

test('run with file storage loads no Redis module; Redis storage loads the client', async () => {
  const withFiles = await redisModulesLoadedBy(`
await import('./src/app.ts');
await import('./src/cli/run.ts');
const { createStorage } = await import('./src/storage/index.ts');
const s = await createStorage({ kind: 'file', path: '/tmp/my-server-lazy-load-unused' });
await s.close();
`);
  assert.deepEqual(withFiles, []);
  // Port 1 on loopback refuses at once: the import happens before the (failing) connect.
  const withRedis = await redisModulesLoadedBy(`
const { createStorage } = await import('./src/storage/index.ts');
await createStorage({ kind: 'redis', url: 'redis://127.0.0.1:1', timeoutMs: 200 }).catch(() => undefined);
`);
  assert.ok(withRedis.length > 0, 'the check saw no @redis module even for Redis storage');
});
