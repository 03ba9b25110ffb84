import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ExecProvider } from '../../../src/dns/exec.ts';
import { describeError } from '../../../src/errors.ts';

test('exec runs PROGRAM ARGS present|cleanup FQDN. VALUE, as lego\'s exec provider does', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-exec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls');
  const script = join(dir, 'hook.sh');
  await writeFile(script, `#!/bin/sh\necho "$*" >> '${log}'\n`);
  await chmod(script, 0o755);
  const p = new ExecProvider({ program: script, args: ['--profile', 'x'] });
  const r = { name: '_acme-challenge.www', type: 'TXT' as const, value: 'abc', ttlSeconds: 60 };
  await p.appendRecords('example.com.', [r, { ...r, value: 'def' }]);
  await p.deleteRecords('example.com.', [r]);
  assert.equal(await readFile(log, 'utf8'), [
    '--profile x present _acme-challenge.www.example.com. abc',
    '--profile x present _acme-challenge.www.example.com. def',
    '--profile x cleanup _acme-challenge.www.example.com. abc',
    '',
  ].join('\n'));
});

test('exec: a failing program is an error naming it, its exit status and what it printed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-exec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'fail.sh');
  await writeFile(script, '#!/bin/sh\necho "zone not found" >&2\nexit 3\n');
  await chmod(script, 0o755);
  const p = new ExecProvider({ program: script });
  await assert.rejects(p.appendRecords('example.com.', [{ name: 'x', type: 'TXT', value: 'v', ttlSeconds: 60 }]), (err: unknown) => {
    assert.match(describeError(err), new RegExp(`${script} present x\\.example\\.com\\. exited with status 3: zone not found`));
    return true;
  });
  const missing = new ExecProvider({ program: join(dir, 'nope') });
  await assert.rejects(missing.appendRecords('example.com.', [{ name: 'x', type: 'TXT', value: 'v', ttlSeconds: 60 }]), /exec provider: .*nope present/);
});
