/**
 * The console log format (issue 14): what a person reads on a terminal. The formatter directly,
 * then the real CLI with its stderr on a pseudo-terminal (script(1)) against the same CLI on a
 * pipe, which must stay JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { consoleLine, type LogRecord } from '../../src/log-format.ts';
import { MAIN, runCli, tempProxyfile } from '../helpers/cli.ts';

const execFileP = promisify(execFile);

/** One record as pino serializes it (its err serializer included), parsed back. */
function record(fn: (log: pino.Logger) => void): LogRecord {
  let line = '';
  const log = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, { write: (s: string) => (line = s) });
  fn(log.child({ logger: 'certs' }));
  return JSON.parse(line) as LogRecord;
}

test('console line: time, level, logger, message, fields; no colour unless asked', () => {
  const rec = record((log) => log.info({ name: 'a.test', n: 2, nested: { a: 1 } }, 'certificate obtained'));
  const line = consoleLine(rec);
  assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  certs  certificate obtained  name=a\.test n=2 nested=\{"a":1\}\n$/);
  assert.doesNotMatch(line, /\x1b/);
});

test('console line in colour: each level its colour, reset after it', () => {
  const colours: Record<string, string> = { debug: '36', info: '32', warn: '33', error: '31', fatal: '1;31' };
  for (const [level, code] of Object.entries(colours)) {
    const line = consoleLine({ time: '2026-12-05T13:04:51.123Z', level, logger: 'acme', msg: 'm' }, { colour: true });
    assert.ok(line.startsWith(`2026-12-05 13:04:51.123 \x1b[${code}m${level.toUpperCase().padEnd(5)}\x1b[0m `), JSON.stringify(line));
  }
});

test('an error is shown by its stack, causes included, indented under the line', () => {
  const rec = record((log) => log.error({ err: new Error('obtaining certificate', { cause: new Error('connect ECONNREFUSED 127.0.0.1:14000') }) }, 'renewal failed'));
  const lines = consoleLine(rec).split('\n');
  assert.match(lines[0] ?? '', /ERROR certs  renewal failed$/, 'no err=JSON blob on the line');
  assert.equal(lines[1], '    Error: obtaining certificate');
  assert.match(lines[2] ?? '', /^ {8}at /);
  assert.ok(lines.some((l) => l === '    caused by: Error: connect ECONNREFUSED 127.0.0.1:14000'), lines.join('\n'));
});

test('the CLI logs the console format in colour on a terminal, and JSON on a pipe', async () => {
  const f = await tempProxyfile('{\n\tadmin off\n\tstorage file_system ./data\n\tlog {\n\t\tlevel warn\n\t}\n}\n');
  try {
    // A warning the CLI logs at start: MY_SERVER_LOG_LEVEL over the Proxyfile's level.
    const env = { ...process.env, MY_SERVER_LOG_LEVEL: 'debug' };
    const piped = await runCli(['certs', 'list', '--config', f.file], { env, cwd: f.dir });
    assert.equal(piped.code, 0, piped.stderr);
    const json = piped.stderr.split('\n').find((l) => l.includes('overrides'));
    assert.equal((JSON.parse(json ?? '{}') as { level?: string }).level, 'warn', piped.stderr);

    // script(1) gives the command a pseudo-terminal for stdin, stdout and stderr.
    const cmd = `${process.execPath} ${MAIN} certs list --config ${f.file}`;
    const { stdout } = await execFileP('script', ['-qec', cmd, '/dev/null'], { env, cwd: f.dir, timeout: 60_000 });
    const line = stdout.split(/\r?\n/).find((l) => l.includes('overrides'));
    assert.ok(line !== undefined, stdout);
    assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \x1b\[33mWARN \x1b\[0m \x1b\[2mmy-server\x1b\[0m  MY_SERVER_LOG_LEVEL=debug overrides/);
    assert.doesNotMatch(stdout, /"level":"warn"/);

    const plain = await execFileP('script', ['-qec', cmd, '/dev/null'], { env: { ...env, NO_COLOR: '1' }, cwd: f.dir, timeout: 60_000 });
    assert.match(plain.stdout, /\d\d\.\d{3} WARN  my-server  MY_SERVER_LOG_LEVEL=debug overrides/);
    assert.doesNotMatch(plain.stdout, /\x1b\[/);
  } finally {
    await f.remove();
  }
});
