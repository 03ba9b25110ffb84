/**
 * Matchers read placeholders through the one resolver (util/placeholders.ts), with Caddy 2.6.2's
 * answers (each row was checked against the `caddy` binary; test/integration/caddy-diff.test.ts
 * compares the same rules live).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matcherOf, requestOf, type RequestSpec } from './matchers-helpers.ts';

const ROWS: readonly (readonly [string, RequestSpec, boolean])[] = [
  // net.SplitHostPort(r.Host): no port in Host, an empty {port} (not the scheme's default).
  ["expression `{port} == ''`", { host: 'site.test' }, true],
  ["expression `{port} == '8080'`", { host: 'site.test:8080' }, true],
  // {host} and {labels.N} keep the case the client sent.
  ["expression `{host} == 'Other.TEST'`", { host: 'Other.TEST' }, true],
  ["expression `{labels.0} == 'TEST' && {labels.1} == 'Other'`", { host: 'Other.TEST:8080' }, true],
  // Cookie names compare case-insensitively (strings.EqualFold); quotes are taken off the value.
  ['vars {cookie.C} v', { headers: [['Cookie', 'c=v']] }, true],
  ['vars {cookie.c} v', { headers: [['Cookie', 'C="v"']] }, true],
  ["expression `{path.0} == 'p0' && {path.1} == 'p1'`", { url: '/p0/p1' }, true],
  // {query.k}: every value of the key joined by ','.
  ['header X-Q {query.k}', { url: '/?k=1&k=2', headers: [['X-Q', '1,2']] }, true],
  // {header.X}: the field's lines joined by ','; an absent field is '' (not null).
  ['header X-Copy {header.X-In}', { headers: [['X-In', 'a'], ['X-In', 'b'], ['X-Copy', 'a,b']] }, true],
  ["expression `{header.X-None} == ''`", {}, true],
];

test('placeholders in matchers resolve as Caddy 2.6.2 resolves them', async () => {
  for (const [def, spec, expect] of ROWS) {
    const { req, ctx } = requestOf(spec);
    assert.equal((await matcherOf(def))(req, ctx), expect, `${def} on ${JSON.stringify(spec)}`);
  }
});

test('a value a matcher or handler set wins over the request placeholder of that name (Replacer.Get)', async () => {
  const m = await matcherOf('vars {vars.who} set');
  const { req, ctx } = requestOf({ vars: { who: 'variable' } });
  assert.equal(m(req, ctx), false);
  ctx.values = new Map([['http.vars.who', 'set']]);
  assert.equal(m(req, ctx), true);
});
