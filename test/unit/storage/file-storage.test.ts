import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTempFile, tempPathFor } from '../../../src/storage/atomic-file.ts';
import { FileStorage } from '../../../src/storage/file-storage.ts';
import { storageConformance } from '../../helpers/storage-conformance.ts';

async function tempRoot(): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-fs-'));
  return { root: join(dir, 'storage'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

storageConformance('FileStorage', async () => {
  const { root, cleanup } = await tempRoot();
  const made: FileStorage[] = [new FileStorage(root)];
  return {
    storage: made[0]!,
    another: async () => {
      const s = new FileStorage(root);
      made.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of made) await s.close();
      await cleanup();
    },
  };
});

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const { root, cleanup } = await tempRoot();
  try {
    await fn(root);
  } finally {
    await cleanup();
  }
}

test('FileStorage writes files 0600 and folders 0700, root included', () =>
  withRoot(async (root) => {
    const storage = new FileStorage(root);
    await storage.put('certificates/ca/a.test/a.test.key', 'secret');
    await storage.put('certificates/ca/a.test/a.test.key', 'replaced');
    await storage.lock('modes');
    for (const dir of [root, join(root, 'certificates'), join(root, 'certificates/ca/a.test'), join(root, 'locks')]) {
      assert.equal((await stat(dir)).mode & 0o777, 0o700, dir);
    }
    assert.equal((await stat(join(root, 'certificates/ca/a.test/a.test.key'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(root, 'locks/modes.lock'))).mode & 0o777, 0o600);
    await storage.unlock('modes');
  }));

test('FileStorage putAll writes every value whole (0600, new folders 0700), leaves no temp file, and another instance reads them', () =>
  withRoot(async (root) => {
    const storage = new FileStorage(root);
    await storage.put('certificates/ca/old.test/old.test.key', 'keep');
    await storage.putAll([
      ['certificates/ca/b.test/b.test.key', 'key'],
      ['certificates/ca/b.test/b.test.crt', Buffer.from('chain')],
      ['certificates/ca/c.test/c.test.json', '{}'],
    ]);
    await storage.putAll([['certificates/ca/b.test/b.test.key', 'replaced']]);
    const other = new FileStorage(root);
    assert.equal((await other.get('certificates/ca/b.test/b.test.key'))?.toString(), 'replaced');
    assert.equal((await other.get('certificates/ca/b.test/b.test.crt'))?.toString(), 'chain');
    assert.equal((await other.get('certificates/ca/c.test/c.test.json'))?.toString(), '{}');
    assert.equal((await other.get('certificates/ca/old.test/old.test.key'))?.toString(), 'keep');
    assert.equal((await stat(join(root, 'certificates/ca/b.test/b.test.key'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(root, 'certificates/ca/c.test'))).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(join(root, 'certificates/ca/b.test'))).sort(), ['b.test.crt', 'b.test.key']);
    await assert.rejects(storage.putAll([['ok/key', 'x'], ['../escape', 'x']]), /key/i);
  }));

test('FileStorage with the absent hint writes into missing folders, nested or not, and into existing ones (a wrong hint is harmless)', () =>
  withRoot(async (root) => {
    const storage = new FileStorage(root);
    // Missing: the root itself, then a nested folder under an existing parent.
    await storage.putAll([['certificates/local/n.test/n.test.key', 'k'], ['certificates/local/n.test/n.test.crt', 'c']], { absent: true });
    await storage.put('certificates/local/m.test/m.test.json', 'm', { absent: true });
    // Wrong: the folder and the key are there.
    await storage.putAll([['certificates/local/n.test/n.test.key', 'k2'], ['certificates/local/n.test/n.test.json', 'j']], { absent: true });
    await storage.put('certificates/local/m.test/m.test.json', 'm2', { absent: true });
    const other = new FileStorage(root);
    assert.equal((await other.get('certificates/local/n.test/n.test.key'))?.toString(), 'k2');
    assert.equal((await other.get('certificates/local/n.test/n.test.crt'))?.toString(), 'c');
    assert.equal((await other.get('certificates/local/n.test/n.test.json'))?.toString(), 'j');
    assert.equal((await other.get('certificates/local/m.test/m.test.json'))?.toString(), 'm2');
    assert.equal((await stat(join(root, 'certificates/local/n.test'))).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(join(root, 'certificates/local/n.test'))).sort(), ['n.test.crt', 'n.test.json', 'n.test.key'], 'no temp file left');
  }));

test('FileStorage with the absent hint makes the folder before its temp files: no open fails for want of it (strace)', () =>
  withRoot(async (root) => {
    // What the hint is for is system calls, so they are what is counted: a child process writes
    // a certificate's three parts into one new folder with the hint and into another without,
    // under strace. Without the hint each temp file's first open fails with ENOENT (then the
    // folder is made and the opens are retried); with it none does.
    await mkdir(join(root, 'certificates/local'), { recursive: true });
    // -ff: one file per thread, so a call another thread interrupts is not split into
    // "<unfinished ...>" and "resumed" lines (the thread pool opens the three temp files at once).
    const traceDir = join(root, '..', 'strace');
    await mkdir(traceDir);
    const trace = join(traceDir, 'out');
    const url = new URL('../../../src/storage/file-storage.ts', import.meta.url).href;
    const script = [
      `import { FileStorage } from ${JSON.stringify(url)};`,
      `const s = new FileStorage(${JSON.stringify(root)});`,
      "const parts = (d) => ['key', 'crt', 'json'].map((e) => [`certificates/local/${d}/${d}.${e}`, e]);",
      "await s.putAll(parts('hinted.test'), { absent: true });",
      "await s.putAll(parts('unhinted.test'));",
    ].join('\n');
    const child = spawn('strace', ['-f', '-ff', '-qq', '-e', 'trace=openat,mkdir', '-o', trace, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = await once(child, 'close');
    assert.equal(code, 0, stderr);
    const lines: string[] = [];
    for (const f of await readdir(traceDir)) lines.push(...(await readFile(join(traceDir, f), 'utf8')).split('\n'));
    const failedTempOpens = (folder: string): number =>
      lines.filter((l) => l.includes(`/${folder}/.${folder}.`) && l.includes('.tmp"') && l.includes('O_CREAT') && l.includes('ENOENT')).length;
    assert.equal(failedTempOpens('unhinted.test'), 3, 'without the hint: one failed open per part (the count the hint saves)');
    assert.equal(failedTempOpens('hinted.test'), 0, 'with the hint: the folder is made first');
    const other = new FileStorage(root);
    for (const d of ['hinted.test', 'unhinted.test']) assert.equal((await other.get(`certificates/local/${d}/${d}.crt`))?.toString(), 'crt');
  }));

test('temp file names are distinct within a process and are what list() treats as temp files', () => {
  const a = tempPathFor('/s/certificates/local/x.test/x.test.key');
  const b = tempPathFor('/s/certificates/local/x.test/x.test.key');
  assert.notEqual(a, b);
  for (const p of [a, b]) {
    assert.equal(dirname(p), '/s/certificates/local/x.test');
    assert.ok(isTempFile(basename(p)), p);
    assert.match(basename(p), new RegExp(`^\\.x\\.test\\.key\\.${process.pid}\\.`));
  }
  assert.equal(isTempFile('x.test.key'), false);
});

test('FileStorage makes folders only when missing: puts and locks still work after their folders were removed', () =>
  withRoot(async (root) => {
    const storage = new FileStorage(root);
    await storage.put('certificates/ca/a.test/a.test.crt', 'one');
    await storage.lock('gone');
    await storage.unlock('gone');
    // Another process (or an operator) removed them under a storage that already used them.
    await rm(join(root, 'certificates'), { recursive: true });
    await rm(join(root, 'locks'), { recursive: true });
    await storage.put('certificates/ca/a.test/a.test.crt', 'two');
    assert.equal((await storage.get('certificates/ca/a.test/a.test.crt'))?.toString(), 'two');
    assert.equal((await stat(join(root, 'certificates/ca'))).mode & 0o777, 0o700);
    await storage.lock('gone', { timeoutMs: 2_000 });
    assert.equal((await stat(join(root, 'locks'))).mode & 0o777, 0o700);
    // The lock is real: a second storage over the same folder cannot take it meanwhile.
    await assert.rejects(new FileStorage(root).lock('gone', { timeoutMs: 100 }), /still held/);
    await storage.unlock('gone');
  }));

test('FileStorage invalid keys never touch the filesystem outside the root', () =>
  withRoot(async (root) => {
    const storage = new FileStorage(join(root, 'inner'));
    await assert.rejects(storage.put('../escaped', 'x'), /invalid storage key "\.\.\/escaped"/);
    await assert.rejects(storage.put('a/../../escaped', 'x'), /invalid storage key/);
    await assert.rejects(readdir(join(root, 'inner')), { code: 'ENOENT' });
    await assert.rejects(stat(join(root, 'escaped')), { code: 'ENOENT' });
  }));

test('FileStorage list hides the locks folder and temp files, and removes orphaned temp files', () =>
  withRoot(async (root) => {
    const storage = new FileStorage(root);
    await storage.put('d/real', 'x');
    await storage.lock('l');
    const orphan = join(root, 'd', '.real.999999.abcdef.tmp');
    const young = join(root, 'd', '.real.999998.abcdef.tmp');
    await writeFile(orphan, 'half');
    await writeFile(young, 'half');
    const old = new Date(Date.now() - 5 * 60_000);
    await utimes(orphan, old, old);
    assert.deepEqual(await storage.list(''), ['d']);
    assert.deepEqual(await storage.list('d'), ['d/real']);
    assert.deepEqual((await readdir(join(root, 'd'))).sort(), ['.real.999998.abcdef.tmp', 'real']);
    await storage.unlock('l');
  }));

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return child.pid;
}

async function writeLockFile(root: string, name: string, info: object): Promise<void> {
  await mkdir(join(root, 'locks'), { recursive: true });
  await writeFile(join(root, 'locks', `${name}.lock`), JSON.stringify(info));
}

test('FileStorage takes over a lock left by a dead process on this host at once', () =>
  withRoot(async (root) => {
    const now = new Date().toISOString();
    await writeLockFile(root, 'crashed', { pid: await deadPid(), hostname: hostname(), created: now, updated: now, token: 't' });
    const storage = new FileStorage(root);
    await storage.lock('crashed', { timeoutMs: 2000 });
    await storage.unlock('crashed');
  }));

test('FileStorage does not take over a fresh lock of a live process', () =>
  withRoot(async (root) => {
    const now = new Date().toISOString();
    await writeLockFile(root, 'alive', { pid: process.pid, hostname: hostname(), created: now, updated: now, token: 't' });
    await writeLockFile(root, 'elsewhere', { pid: 1, hostname: 'another-host', created: now, updated: now, token: 't' });
    const storage = new FileStorage(root);
    await assert.rejects(storage.lock('alive', { timeoutMs: 400 }), { code: 'MS_ERR_LOCK_TIMEOUT' });
    await assert.rejects(storage.lock('elsewhere', { timeoutMs: 400 }), { code: 'MS_ERR_LOCK_TIMEOUT' });
  }));

test('FileStorage takes over a lock from another host once it is not refreshed past the stale threshold', () =>
  withRoot(async (root) => {
    const old = new Date(Date.now() - 60_000).toISOString();
    await writeLockFile(root, 'abandoned', { pid: 1, hostname: 'another-host', created: old, updated: old, token: 't' });
    const storage = new FileStorage(root);
    await storage.lock('abandoned', { timeoutMs: 2000 });
    await storage.unlock('abandoned');
  }));

test('FileStorage keeps refreshing a held lock so it never goes stale while held', () =>
  withRoot(async (root) => {
    const options = { lockStaleMs: 400, lockRefreshMs: 100 };
    const holder = new FileStorage(root, options);
    const waiter = new FileStorage(root, options);
    await holder.lock('long');
    // Three stale thresholds: without refreshes the waiter would take the lock over.
    await assert.rejects(waiter.lock('long', { timeoutMs: 1200 }), { code: 'MS_ERR_LOCK_TIMEOUT' });
    await holder.close();
    // Once the holder stops refreshing (as if frozen), the lock goes stale and is taken over.
    await waiter.lock('long', { timeoutMs: 3000 });
    await waiter.unlock('long');
  }));

test('FileStorage waiters on a stale lock take it over one at a time', () =>
  withRoot(async (root) => {
    // The race is between waiters that all judge the same file stale at once; a few rounds with
    // many waiters make it likely to show if the takeover were not exclusive.
    for (let round = 0; round < 4; round++) {
      const now = new Date().toISOString();
      await writeLockFile(root, 'contended', { pid: await deadPid(), hostname: hostname(), created: now, updated: now, token: 't' });
      const storages = Array.from({ length: 12 }, () => new FileStorage(root));
      let holders = 0;
      let maxHolders = 0;
      await Promise.all(
        storages.map(async (s) => {
          await s.lock('contended', { timeoutMs: 30_000 });
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          await sleep(5);
          holders--;
          await s.unlock('contended');
        }),
      );
      assert.equal(maxHolders, 1, `round ${round}`);
    }
  }));

const CRASH_CHILD = `
import { FileStorage } from ${JSON.stringify(new URL('../../../src/storage/file-storage.ts', import.meta.url).href)};
const [root] = process.argv.slice(2);
const storage = new FileStorage(root);
const size = 1024 * 1024;
const contents = [Buffer.alloc(size, 0x61), Buffer.alloc(size + 1, 0x62)];
const keys = ['crash/one', 'crash/two', 'crash/nested/three'];
for (let i = 0; ; i++) {
  for (const key of keys) await storage.put(key, contents[i % 2]);
  if (i === 0) process.stdout.write('ready\\n');
}
`;

test('FileStorage survives SIGKILL mid-put: every key reads back complete and list shows no temp file', { timeout: 120_000 }, () =>
  withRoot(async (root) => {
    const script = join(root, '..', 'crash-child.mjs');
    await writeFile(script, CRASH_CHILD);
    const size = 1024 * 1024;
    const complete = [Buffer.alloc(size, 0x61), Buffer.alloc(size + 1, 0x62)];
    const storage = new FileStorage(root);
    for (const delayMs of [0, 3, 7, 15, 31, 50, 80, 130]) {
      const child = spawn(process.execPath, [script, root], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = once(child, 'exit');
      try {
        await once(child.stdout, 'data');
        await sleep(delayMs);
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      for (const key of ['crash/one', 'crash/two', 'crash/nested/three']) {
        const value = await storage.get(key);
        assert.ok(value !== undefined, key);
        assert.ok(complete.some((c) => c.equals(value)), `${key} after a kill at ${delayMs}ms: ${value.length} bytes`);
      }
      assert.deepEqual(await storage.list('crash', true), ['crash/nested/three', 'crash/one', 'crash/two']);
      assert.deepEqual(await storage.list('crash'), ['crash/nested', 'crash/one', 'crash/two']);
    }
  }));
