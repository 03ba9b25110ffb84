import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { expandPlaceholders, setValue, setVar, type RequestContext } from '../../../src/routes/context.ts';

// hostWithoutPort is util/host.ts's, re-exported here: test/unit/util/host.test.ts holds its table.

test('expandPlaceholders: short and long forms, unknown ones left as written', () => {
  const req = { url: '/a/b?x=1', method: 'POST', headers: { host: 'Site.Test:8080' } } as unknown as IncomingMessage;
  const ctx: RequestContext = { scheme: 'https', remoteAddress: '10.0.0.9', host: 'site.test', path: '/b', query: 'x=1' };
  const cases: [string, string][] = [
    ['{host}', 'Site.Test'],
    ['{hostport}', 'Site.Test:8080'],
    ['{uri}', '/a/b?x=1'],
    ['{path}', '/b'],
    ['{query}', 'x=1'],
    ['{scheme}', 'https'],
    ['{remote_host}', '10.0.0.9'],
    ['{method}', 'POST'],
    ['{http.request.host}', 'Site.Test'],
    ['{http.request.uri.path}', '/b'],
    ['{http.request.uri.query}', 'x=1'],
    ['{http.request.remote.host}', '10.0.0.9'],
    ['https://{host}{uri}', 'https://Site.Test/a/b?x=1'],
    ['{unknown} {HOST} {$ENV} {}', '{unknown} {HOST} {$ENV} {}'],
    ['no placeholders', 'no placeholders'],
  ];
  for (const [template, want] of cases) assert.equal(expandPlaceholders(template, req, ctx), want, template);
});

test('expandPlaceholders reads what matchers and handlers set on the context: vars, captures, error values', () => {
  const req = { url: '/api/v2/x?k=1', method: 'GET', headers: { host: 'a.test', 'x-a': 'h' } } as unknown as IncomingMessage;
  const ctx: RequestContext = { scheme: 'http', remoteAddress: '10.0.0.9', clientIp: '198.51.100.4', host: 'a.test', path: '/api/v2/x', query: 'k=1' };
  setVar(ctx, 'user', 'ann');
  setValue(ctx, 'http.regexp.api.1', 'v2');
  setValue(ctx, 'http.error.status_code', '502');
  setValue(ctx, 'http.matchers.file.relative', '/x.html');
  const cases: [string, string][] = [
    ['{vars.user}|{http.vars.user}', 'ann|ann'],
    ['{re.api.1}|{http.regexp.api.1}', 'v2|v2'],
    ['{err.status_code}|{http.error.status_code}', '502|502'],
    ['{file_match.relative}|{http.matchers.file.relative}', '/x.html|/x.html'],
    ['{client_ip}|{remote_host}', '198.51.100.4|10.0.0.9'],
    ['{header.X-A}|{query.k}|{path.1}', 'h|1|v2'],
  ];
  for (const [template, want] of cases) assert.equal(expandPlaceholders(template, req, ctx), want, template);
});
