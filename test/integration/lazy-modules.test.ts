/**
 * Idle memory (issue 12): a config that does not use a feature does not load the package behind
 * it. `my-server run` with a plain reverse_proxy site must not resolve http-proxy-3 (WebSocket
 * upgrades, loaded at the first upgrade: src/proxy/websocket.ts) nor send / mime-types (file_server,
 * loaded at its first request: src/routes/handlers/file-server.ts) nor CEL (only for configs with
 * named matchers: src/config/index.ts). Those paths are tested working in
 * test/unit/proxy/websocket.test.ts, test/unit/files/ and test/unit/routes/matchers-expression.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../helpers/ports.ts';
import { loopbackGlobals } from '../helpers/clients.ts';
import { startServer } from '../helpers/run-server.ts';

/** Records every URL the process resolves, one a line, into process.env.RESOLVED_LOG. */
const HOOK = `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ resolve(s, c, next) { const r = next(s, c); appendFileSync(process.env.RESOLVED_LOG, r.url + '\\n'); return r; } });`;

test('a reverse_proxy site without WebSockets, files or named matchers loads neither http-proxy-3, send nor CEL', { timeout: 90_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lazy-modules-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'resolved.txt');
  const [http, https, site, upstream] = (await freePorts(4)) as [number, number, number, number];
  const server = await startServer((env) => `${loopbackGlobals(env, { http, https })}\nhttp://127.0.0.1:${site} {\n\treverse_proxy 127.0.0.1:${upstream}\n}\n`, {
    env: { ...process.env, RESOLVED_LOG: log, NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(HOOK)}` },
  });
  t.after(() => server.close());
  // A request through the proxy (the upstream is down: 502) so the request path has run too.
  assert.equal((await fetch(`http://127.0.0.1:${site}/`)).status, 502);
  const resolved = await readFile(log, 'utf8');
  assert.match(resolved, /\/node_modules\/undici\//, 'the hook saw the packages run loads');
  for (const pkg of ['http-proxy-3', 'send', 'mime-types', '@marcbachmann/cel-js']) {
    assert.doesNotMatch(resolved, new RegExp(`/node_modules/${pkg}/`), `${pkg} was loaded`);
  }
});
