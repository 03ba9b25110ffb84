import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { expandPlaceholders, type RequestContext } from '../../../src/routes/context.ts';

// hostWithoutPort is util/host.ts's, re-exported here: test/unit/util/host.test.ts holds its table.

test('expandPlaceholders: short and long forms, unknown ones left as written', () => {
  const req = { url: '/a/b?x=1', method: 'POST', headers: { host: 'Site.Test:8080' } } as unknown as IncomingMessage;
  const ctx: RequestContext = { scheme: 'https', remoteAddress: '10.0.0.9', host: 'site.test', path: '/b', query: 'x=1' };
  const cases: [string, string][] = [
    ['{host}', 'site.test'],
    ['{hostport}', 'Site.Test:8080'],
    ['{uri}', '/a/b?x=1'],
    ['{path}', '/b'],
    ['{query}', 'x=1'],
    ['{scheme}', 'https'],
    ['{remote_host}', '10.0.0.9'],
    ['{method}', 'POST'],
    ['{http.request.host}', 'site.test'],
    ['{http.request.uri.path}', '/b'],
    ['{http.request.uri.query}', 'x=1'],
    ['{http.request.remote.host}', '10.0.0.9'],
    ['https://{host}{uri}', 'https://site.test/a/b?x=1'],
    ['{unknown} {HOST} {$ENV} {}', '{unknown} {HOST} {$ENV} {}'],
    ['no placeholders', 'no placeholders'],
  ];
  for (const [template, want] of cases) assert.equal(expandPlaceholders(template, req, ctx), want, template);
});
