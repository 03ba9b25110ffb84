import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, formatConfig, parseConfig } from '../../../src/config/index.ts';
import { tokenize, type Comment } from '../../../src/config/lexer.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/config');
const ENV = { MS_TEST_EMAIL: 'env@example.com', MS_TEST_HOST: 'env.example.com', MS_TEST_UPSTREAMS: '10.9.0.1:80 10.9.0.2:80' };

const MESSY = [
  '# top comment',
  '{',
  '    email   a@b.c   # inline',
  '',
  '',
  '    http_port 8080',
  '}',
  '(snip) {',
  '  header X 1',
  '}',
  'example.com   www.example.com',
  '{',
  '',
  '  # leading comment in block',
  '  reverse_proxy   a:1 \\',
  '      b:2 {',
  '      lb_policy   first',
  '',
  '',
  '      transport http {',
  '   dial_timeout 2s',
  '      }',
  '',
  '  }',
  '  respond <<HTML',
  '    <p>hi</p>',
  '    HTML 200',
  '  respond "a   b" 200',
  '',
  '}',
  'import sites/*',
  '',
].join('\n');

const CANONICAL = [
  '# top comment',
  '{',
  '\temail a@b.c # inline',
  '',
  '\thttp_port 8080',
  '}',
  '',
  '(snip) {',
  '\theader X 1',
  '}',
  '',
  'example.com www.example.com {',
  '\t# leading comment in block',
  '\treverse_proxy a:1 \\',
  '\t\tb:2 {',
  '\t\tlb_policy first',
  '',
  '\t\ttransport http {',
  '\t\t\tdial_timeout 2s',
  '\t\t}',
  '\t}',
  '\trespond <<HTML',
  '    <p>hi</p>',
  '    HTML 200',
  '\trespond "a   b" 200',
  '}',
  '',
  'import sites/*',
  '',
].join('\n');

test('fmt indents with tabs, puts one directive per line and normalises spacing and blank lines', () => {
  assert.equal(formatConfig(MESSY), CANONICAL);
});

test('fmt of formatted text changes nothing', () => {
  assert.equal(formatConfig(CANONICAL), CANONICAL);
});

test('fmt keeps every comment, own-line and trailing', () => {
  const before: Comment[] = [];
  const after: Comment[] = [];
  tokenize(MESSY, 'P', { comments: before });
  tokenize(formatConfig(MESSY), 'P', { comments: after });
  assert.deepEqual(
    after.map((c) => c.text),
    before.map((c) => c.text),
  );
  assert.equal(before.length, 3);
});

test('fmt of an empty file is empty', () => {
  assert.equal(formatConfig(' \n\n\t\n'), '');
});

test('fmt rejects text that does not lex or whose braces do not balance, with the position', () => {
  assert.throws(() => formatConfig('a {\n\trespond "x\n}\n', { filename: 'F' }), (err: unknown) => {
    return err instanceof ConfigError && err.message === 'F:2:10: unterminated quoted string: missing closing \'"\'';
  });
  assert.throws(() => formatConfig('a {\n\thandle {\n}\n', { filename: 'F' }), (err: unknown) => {
    return err instanceof ConfigError && err.message === "F:1:3: unclosed '{': expected '}' before the end of the file";
  });
});

function withoutPositions(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (key: string, v: unknown) => (key === 'pos' || key === 'sources' ? undefined : v)));
}

for (const name of readdirSync(FIXTURES).filter((n) => n.endsWith('.txt')).sort()) {
  const file = path.join(FIXTURES, name);
  const content = readFileSync(file, 'utf8');
  const input = content.slice(0, content.indexOf('\n----------\n') + 1);
  let formatted: string | undefined;
  try {
    formatted = formatConfig(input);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
  }
  if (formatted === undefined) continue;
  const once = formatted;
  test(`fmt is idempotent and keeps the meaning of ${name}`, async () => {
    assert.equal(formatConfig(once), once);
    const load = (text: string): Promise<unknown> =>
      parseConfig(text, { filename: file, env: ENV }).then(withoutPositions, (err: unknown) => {
        if (err instanceof ConfigError) return err.issues.map((i) => i.message);
        throw err;
      });
    assert.deepEqual(await load(once), await load(input));
  });
}
