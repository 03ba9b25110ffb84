import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { HeaderOp } from '../../../src/config/types.ts';
import { applyResponseHeaderOps } from '../../../src/routes/header-ops.ts';
import { responseHooks } from '../../../src/http/response-hooks.ts';
import { applyHeaderOps, fieldNameMatcher, headerFields } from '../../../src/util/header-ops.ts';
import { contextOf, get, serve, type Reply } from './serve.ts';

const ops: HeaderOp[] = [
  { op: 'add', name: 'X-Add', value: 'two' },
  { op: 'set', name: 'X-Set', value: 'set-by-op' },
  { op: 'set', name: 'X-Where', value: '{host} {path} {query} {method}' },
  { op: 'delete', name: 'X-Remove' },
  { op: 'delete', name: 'X-Secret-*' },
  { op: 'delete', name: '*-Timing' },
];

async function run(handler: (res: http.ServerResponse) => void, path = '/p?q=1'): Promise<Reply> {
  const s = await serve((req, res) => {
    const ctx = contextOf(req);
    responseHooks(res).onHead(() => applyResponseHeaderOps(res, ops, req, ctx));
    handler(res);
  });
  try {
    return await get(s.port, path, { host: 'Site.Test:8080' });
  } finally {
    await s.close();
  }
}

function values(r: Reply, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i]!.toLowerCase() === name) out.push(r.rawHeaders[i + 1]!);
  return out;
}

const handlerHeaders = {
  'X-Add': 'one',
  'X-Set': 'from-handler',
  'X-Remove': 'gone',
  'X-Secret-Token': 't',
  'x-secret-key': 'k',
  'Server-Timing': 'db;dur=1',
  'X-Keep': 'kept',
};

function assertOpsApplied(r: Reply): void {
  assert.deepEqual(values(r, 'x-add'), ['one', 'two']);
  assert.deepEqual(values(r, 'x-set'), ['set-by-op']);
  assert.equal(r.headers['x-where'], 'Site.Test /p q=1 GET');
  assert.equal(r.headers['x-remove'], undefined);
  assert.equal(r.headers['x-secret-token'], undefined);
  assert.equal(r.headers['x-secret-key'], undefined);
  assert.equal(r.headers['server-timing'], undefined);
  assert.equal(r.headers['x-keep'], 'kept');
}

test('set, add, delete and wildcard delete apply to headers the handler passes to writeHead', async () => {
  const r = await run((res) => {
    res.writeHead(201, handlerHeaders);
    res.end('body');
  });
  assert.equal(r.status, 201);
  assert.equal(r.body.toString(), 'body');
  assertOpsApplied(r);
});

test('header ops apply with writeHead(status, reason, headers) and keep the reason phrase', async () => {
  const s = await serve((req, res) => {
    const ctx = contextOf(req);
    responseHooks(res).onHead(() => applyResponseHeaderOps(res, ops, req, ctx));
    res.writeHead(202, 'Quite Accepted', handlerHeaders);
    res.end();
  });
  try {
    const message = await new Promise<string | undefined>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: s.port, path: '/', agent: false }, (res) => {
        res.resume();
        resolve(res.statusMessage);
      }).on('error', reject);
    });
    assert.equal(message, 'Quite Accepted');
  } finally {
    await s.close();
  }
  const r = await run((res) => {
    res.writeHead(202, 'Quite Accepted', handlerHeaders);
    res.end();
  });
  assert.equal(r.status, 202);
  assertOpsApplied(r);
});

test('header ops apply to headers passed to writeHead as a flat array', async () => {
  const r = await run((res) => {
    res.writeHead(200, Object.entries(handlerHeaders).flat());
    res.end();
  });
  assertOpsApplied(r);
});

test('header ops apply to an implicit head (setHeader then end)', async () => {
  const r = await run((res) => {
    for (const [k, v] of Object.entries(handlerHeaders)) res.setHeader(k, v);
    res.statusCode = 203;
    res.end('x');
  });
  assert.equal(r.status, 203);
  assertOpsApplied(r);
});

test('header ops apply when the head goes out with the first write()', async () => {
  const r = await run((res) => {
    for (const [k, v] of Object.entries(handlerHeaders)) res.setHeader(k, v);
    res.write('a');
    res.end('b');
  });
  assert.equal(r.body.toString(), 'ab');
  assertOpsApplied(r);
});

test('deleting "*" removes every header the handler set', async () => {
  const s = await serve((req, res) => {
    const ctx = contextOf(req);
    responseHooks(res).onHead(() => applyResponseHeaderOps(res, [{ op: 'delete', name: '*' }], req, ctx));
    res.writeHead(200, handlerHeaders);
    res.end();
  });
  try {
    const r = await get(s.port, '/');
    for (const name of Object.keys(handlerHeaders)) assert.equal(r.headers[name.toLowerCase()], undefined, name);
  } finally {
    await s.close();
  }
});

test("Caddy's wildcard rule for deleted names: * all, *x* contains, *x suffix, x* prefix, else exact; any case", () => {
  const names = ['X-Secret-Token', 'my-secret', 'Server-Timing', 'X-Keep', 'x-*-odd'];
  const cases: [string, string[]][] = [
    ['*', names],
    ['*SECRET*', ['X-Secret-Token', 'my-secret']],
    ['*-timing', ['Server-Timing']],
    ['x-secret*', ['X-Secret-Token']],
    ['x-keep', ['X-Keep']],
    // A * in the middle is no wildcard (Caddy deletes the field of that exact name).
    ['x-*-odd', ['x-*-odd']],
    ['x-*', ['X-Secret-Token', 'X-Keep', 'x-*-odd']],
  ];
  for (const [pattern, want] of cases) {
    const matches = fieldNameMatcher(pattern);
    assert.deepEqual(names.filter(matches), want, pattern);
  }
});

test('one implementation in both directions: a response and a plain header object end up with the same fields', async () => {
  const both: HeaderOp[] = [
    { op: 'delete', name: '*secret*' },
    { op: 'delete', name: '*-timing' },
    { op: 'add', name: 'X-Add', value: 'two' },
    { op: 'set', name: 'X-Unknown', value: 'a{nope}b' },
  ];
  const plain: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(handlerHeaders)) plain[k.toLowerCase()] = v;
  applyHeaderOps(headerFields(plain), both, (v) => v);

  const s = await serve((req, res) => {
    const ctx = contextOf(req);
    responseHooks(res).onHead(() => applyResponseHeaderOps(res, both, req, ctx));
    res.writeHead(200, { ...handlerHeaders, 'My-Secret': 'm' });
    res.end();
  });
  try {
    const r = await get(s.port, '/');
    assert.equal(r.headers['x-secret-token'], undefined);
    assert.equal(r.headers['my-secret'], undefined, '*secret* deletes a field that contains the word anywhere');
    assert.equal(r.headers['server-timing'], undefined);
    assert.deepEqual(values(r, 'x-add'), ['one', 'two']);
    assert.equal(r.headers['x-unknown'], 'a{nope}b', 'unknown placeholders stay as written');
    const fromResponse = Object.keys(r.headers).filter((k) => k.startsWith('x-') || k.includes('secret') || k.includes('timing'));
    assert.deepEqual(fromResponse.sort(), Object.keys(plain).sort());
  } finally {
    await s.close();
  }
});
