import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envOverrides } from '../../../src/app/env-overrides.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { runCli, tempProxyfile } from '../../helpers/cli.ts';

async function globals(text: string) {
  return (await parseConfig(text, { filename: 'Proxyfile' })).globals;
}

test('MY_SERVER_LOG_LEVEL over a level the Proxyfile sets is named with the setting; a default level or the same level is not', async () => {
  const g = await globals('{\n\tlog {\n\t\tlevel warn\n\t}\n\tlog access {\n\t\tlevel error\n\t\tinclude http.log.access\n\t}\n}\n:8080 {\n\trespond "x"\n}\n');
  const [o, ...rest] = envOverrides(g, { MY_SERVER_LOG_LEVEL: 'debug' });
  assert.equal(rest.length, 0);
  assert.equal(o?.env, 'MY_SERVER_LOG_LEVEL');
  assert.equal(o.message, "MY_SERVER_LOG_LEVEL=debug overrides the Proxyfile's log { level warn }, log access { level error } (unset MY_SERVER_LOG_LEVEL to use the Proxyfile's)");
  assert.deepEqual(envOverrides(await globals(':8080 {\n\trespond "x"\n}\n'), { MY_SERVER_LOG_LEVEL: 'debug' }), [], 'no level in the Proxyfile');
  assert.deepEqual(envOverrides(await globals('{\n\tdebug\n}\n:8080 {\n\trespond "x"\n}\n'), { MY_SERVER_LOG_LEVEL: 'debug' }), [], 'the same level');
  assert.match(envOverrides(await globals('{\n\tdebug\n}\n:8080 {\n\trespond "x"\n}\n'), { MY_SERVER_LOG_LEVEL: 'error' })[0]?.message ?? '', /log \{ level debug \}/);
  assert.match(envOverrides(g, { MY_SERVER_LOG_LEVEL: 'verbose' })[0]?.message ?? '', /^MY_SERVER_LOG_LEVEL=verbose is not a log level .* and is ignored$/);
});

test('MY_SERVER_STORAGE outranked by storage redis: named without the Redis password', async () => {
  const g = await globals('{\n\tstorage redis redis://user:s3cret@cache.internal:6379/2\n}\n:8080 {\n\trespond "x"\n}\n');
  const all = envOverrides(g, { MY_SERVER_STORAGE: '/data', MY_SERVER_LOG_LEVEL: 'info' });
  assert.equal(all.length, 1);
  assert.equal(all[0]?.env, 'MY_SERVER_STORAGE');
  assert.match(all[0].message, /MY_SERVER_STORAGE=\/data is ignored: the Proxyfile's "storage redis redis:\/\/cache\.internal:6379\/2" takes precedence/);
  assert.doesNotMatch(JSON.stringify(all), /s3cret/);
});

test('the warning is logged at start, naming the variable and the setting', async () => {
  const f = await tempProxyfile('{\n\tadmin off\n\tstorage file_system ./data\n\tlog {\n\t\tlevel warn\n\t\tformat json\n\t}\n}\n');
  try {
    const r = await runCli(['certs', 'list', '--config', f.file], { env: { MY_SERVER_LOG_LEVEL: 'error' }, cwd: f.dir });
    assert.equal(r.code, 0, r.stderr);
    // A warning, below the level the variable asks for: it still shows, as plain text.
    assert.match(r.stderr, /^my-server: warning: MY_SERVER_LOG_LEVEL=error overrides the Proxyfile's log \{ level warn \}/m);
    const debug = await runCli(['certs', 'list', '--config', f.file], { env: { MY_SERVER_LOG_LEVEL: 'debug' }, cwd: f.dir });
    assert.equal(debug.code, 0, debug.stderr);
    const line = debug.stderr.split('\n').find((l) => l.includes('MY_SERVER_LOG_LEVEL=debug overrides'));
    assert.ok(line !== undefined, debug.stderr);
    const rec = JSON.parse(line) as Record<string, unknown>;
    assert.equal(rec['level'], 'warn');
    assert.equal(rec['env'], 'MY_SERVER_LOG_LEVEL');
    assert.equal(rec['setting'], 'log level');
  } finally {
    await f.remove();
  }
});
