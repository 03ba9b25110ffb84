import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { parseConfig } from '../../src/config/index.ts';
import { closeLogger, createLogger, logOptionsOf } from '../../src/log.ts';

/** Waits until `check` holds (rolling and compression happen asynchronously), for up to 10 s. */
async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const got = await check();
    if (got !== undefined) return got;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const ROLLED = /^access-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}(-\d+)?\.log(\.gz)?$/;

test('output file with roll_size: written past the size, the file rolls to a gzip file named as Caddy names it, and roll_keep bounds the rolled files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-roll-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'access.log');
  // Through the parser: roll_size 1MiB (Caddy's resolution is whole MiB), roll_keep 2.
  const config = await parseConfig(`{\n\tlog {\n\t\toutput file ${file} {\n\t\t\troll_size 1MiB\n\t\t\troll_keep 2\n\t\t}\n\t\tformat json\n\t}\n}\n`, { filename: 'P', env: {} });
  const options = logOptionsOf(config.globals.log);
  assert.deepEqual(options.roll, { enabled: true, sizeBytes: 1024 ** 2, keep: 2, keepDays: 90, localTime: false, compress: true });
  const log = createLogger(options);

  const filler = 'x'.repeat(4000);
  const rolledFiles = async (): Promise<string[]> => (await readdir(dir)).filter((f) => ROLLED.test(f)).sort();
  // Four rolls' worth, one at a time: each roll must see the file past 1 MiB.
  const seen = new Set<string>();
  for (let roll = 1; roll <= 4; roll++) {
    for (let i = 0; i < 270; i++) log.info({ roll, i, filler }, 'line');
    await until(`roll ${roll}`, async () => {
      const files = await rolledFiles();
      for (const f of files) seen.add(f);
      const size = (await stat(file).catch(() => undefined))?.size;
      return seen.size >= roll && size !== undefined && size < 1024 ** 2 ? files : undefined;
    });
  }
  const oldest = [...seen].sort()[0] as string;
  const files = await until('roll_keep to remove the oldest', async () => {
    const f = await rolledFiles();
    return f.length === 2 ? f : undefined;
  });
  for (const f of files) {
    assert.match(f, /\.log\.gz$/, 'rolled files are gzip-compressed by default');
    const text = gunzipSync(await readFile(join(dir, f))).toString();
    const first = JSON.parse(text.split('\n')[0] as string) as { msg: string; filler: string };
    assert.equal(first.msg, 'line');
    assert.equal(first.filler, filler);
  }
  // The kept ones are the newest two of the four.
  assert.ok(seen.size >= 4, [...seen].join(' '));
  assert.ok(!files.includes(oldest), 'the oldest rolled file was removed');
  assert.deepEqual(files, [...seen].sort().slice(2));
  await closeLogger(log);
});

test('roll_uncompressed keeps rolled files as plain text; roll_disabled never rolls', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-roll-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const plain = createLogger({ output: join(dir, 'access.log'), format: 'json', roll: { enabled: true, sizeBytes: 8192, keep: 10, keepDays: 90, localTime: false, compress: false } });
  const never = createLogger({ output: join(dir, 'never.log'), format: 'json', roll: { enabled: false, sizeBytes: 8192, keep: 10, keepDays: 90, localTime: false, compress: true } });
  for (let i = 0; i < 40; i++) {
    plain.info({ i, filler: 'y'.repeat(400) }, 'plain');
    never.info({ i, filler: 'y'.repeat(400) }, 'never');
  }
  const rolled = await until('an uncompressed rolled file', async () => {
    const f = (await readdir(dir)).filter((n) => ROLLED.test(n));
    return f.length > 0 ? f : undefined;
  });
  assert.match(rolled[0] as string, /\.log$/);
  assert.match(await readFile(join(dir, rolled[0] as string), 'utf8'), /"msg":"plain"/);
  const neverSize = await until('never.log to hold every line', async () => {
    const s = (await stat(join(dir, 'never.log')).catch(() => undefined))?.size ?? 0;
    return s > 40 * 400 ? s : undefined;
  });
  assert.ok(neverSize > 8192);
  assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('never-')), [], 'roll_disabled leaves never.log whole');
  await Promise.all([closeLogger(plain), closeLogger(never)]);
});
