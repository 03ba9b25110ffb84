import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ENGINES_NODE, nodeVersionProblem, satisfies } from '../../../src/cli/node-check.ts';
import { MAIN } from '../../helpers/cli.ts';

test('the range checked at start is package.json engines.node', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
  assert.equal(ENGINES_NODE, pkg.engines.node);
});

test('engines range: both supported lines, nothing between or below', () => {
  for (const ok of ['22.22.2', '22.30.0', '24.14.1', '24.21.0', '25.0.0', 'v24.14.1']) assert.ok(satisfies(ok, ENGINES_NODE), ok);
  for (const old of ['18.19.0', '20.20.2', '22.22.1', '23.11.0', '24.14.0', '24.0.0']) assert.ok(!satisfies(old, ENGINES_NODE), old);
  // An unreadable range locks nobody out.
  assert.ok(satisfies('20.0.0', 'latest'));
});

test('the refusal is one line naming the version needed and the one running', () => {
  const line = nodeVersionProblem('20.20.2');
  assert.equal(line, `my-server needs Node.js >=22.22.2 <23 or >=24.14.1; this is Node.js v20.20.2 (${process.execPath})`);
  assert.equal(nodeVersionProblem('24.21.0'), undefined);
});

test('an old Node gets the refusal and exit 1 before any command runs', () => {
  // The running Node 24 posing as Node 20: the check must run before `version` (or anything) does.
  const fake = "Object.defineProperty(process.versions,'node',{value:'20.20.2'});Object.defineProperty(process,'version',{value:'v20.20.2'});";
  const ran = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(fake)}`, MAIN, 'version'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(ran.status, 1, ran.stderr);
  assert.equal(ran.stdout, '');
  assert.equal(ran.stderr, `my-server needs Node.js >=22.22.2 <23 or >=24.14.1; this is Node.js v20.20.2 (${process.execPath})\n`);
});
