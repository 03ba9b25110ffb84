/**
 * Golden files: test/fixtures/config/<case>.txt holds a Proxyfile, a line `----------`, then the
 * expected Config as JSON (positions and option sources left out, files relative to the fixture
 * directory) or the expected error lines (`FILE:LINE:COL: message`, FILE relative to the fixture
 * directory). Extra files for imports live in subdirectories.
 *
 * MS_UPDATE_GOLDEN=1 rewrites the expected part from the current output, for review in a diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/config');
const SEPARATOR = '\n----------\n';
const ENV = {
  MS_TEST_EMAIL: 'env@example.com',
  MS_TEST_HOST: 'env.example.com',
  MS_TEST_UPSTREAMS: '10.9.0.1:80 10.9.0.2:80',
};

function stripPositions(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (key: string, v: unknown) => (key === 'pos' || key === 'sources' ? undefined : v)));
}

async function actualFor(file: string, input: string): Promise<string> {
  try {
    const config = await parseConfig(input, { filename: file, env: ENV });
    const shown = {
      ...config,
      files: config.files.map((f) => path.relative(FIXTURES, f)),
      ...(config.warnings ? { warnings: config.warnings.map((w) => ({ ...w, file: path.relative(FIXTURES, w.file) })) } : {}),
    };
    return `${JSON.stringify(stripPositions(shown), null, 2)}\n`;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return `${err.message.split(`${FIXTURES}${path.sep}`).join('')}\n`;
  }
}

const cases = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.txt'))
  .sort();

test('there are golden cases for the config loader', () => {
  assert.ok(cases.length >= 25, `only ${cases.length} cases`);
});

for (const name of cases) {
  const file = path.join(FIXTURES, name);
  const content = readFileSync(file, 'utf8');
  const at = content.indexOf(SEPARATOR);
  const input = content.slice(0, at + 1);
  const expected = content.slice(at + SEPARATOR.length);
  test(`golden ${name.replace(/\.txt$/, '')}: the Proxyfile adapts to its expected config or error`, async () => {
    assert.ok(at >= 0, `${name} has no ---------- separator`);
    const actual = await actualFor(file, input);
    if (process.env['MS_UPDATE_GOLDEN'] === '1') {
      writeFileSync(file, `${input}----------\n${actual}`);
      return;
    }
    if (expected.trimStart().startsWith('{') && actual.startsWith('{')) {
      assert.deepEqual(JSON.parse(actual), JSON.parse(expected));
    } else {
      assert.equal(actual.trimEnd(), expected.trimEnd());
    }
  });
}
