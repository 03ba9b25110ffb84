import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostnameOf, isLoopbackHostname, parseAdminAddress, type AdminListen } from '../../../src/admin/admin-address.ts';
import { RequestPolicy } from '../../../src/admin/request-policy.ts';
import { MyServerError } from '../../../src/errors.ts';

test('parseAdminAddress reads host:port, [v6]:port, :port and unix//path', () => {
  const table: [string, AdminListen][] = [
    ['localhost:2019', { kind: 'tcp', host: 'localhost', bindHost: '127.0.0.1', port: 2019 }],
    ['LocalHost:2019', { kind: 'tcp', host: 'localhost', bindHost: '127.0.0.1', port: 2019 }],
    ['127.0.0.1:0', { kind: 'tcp', host: '127.0.0.1', bindHost: '127.0.0.1', port: 0 }],
    ['[::1]:2019', { kind: 'tcp', host: '::1', bindHost: '::1', port: 2019 }],
    ['admin.internal:8080', { kind: 'tcp', host: 'admin.internal', bindHost: 'admin.internal', port: 8080 }],
    [':2019', { kind: 'tcp', host: '', bindHost: undefined, port: 2019 }],
    ['unix//run/my-server/admin.sock', { kind: 'unix', path: '/run/my-server/admin.sock' }],
    ['unix/admin.sock', { kind: 'unix', path: 'admin.sock' }],
  ];
  for (const [input, want] of table) assert.deepEqual(parseAdminAddress(input), want, input);
});

test('parseAdminAddress rejects malformed addresses with MS_ERR_CONFIG', () => {
  for (const input of ['localhost', '2019', 'a:b', '1.2.3.4:65536', '[nothost]:1', '::1:2019', 'unix/', 'host:1:2']) {
    assert.throws(() => parseAdminAddress(input), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_CONFIG', input);
  }
});

test('loopback hostnames are localhost, 127/8 and ::1 in any spelling the URL parser accepts', () => {
  const table: [string, boolean][] = [
    ['localhost', true],
    ['LOCALHOST:2019', true],
    ['localhost.:2019', true],
    ['127.0.0.1', true],
    ['127.8.9.10:2019', true],
    ['127.1', true],
    ['2130706433', true],
    ['[::1]:2019', true],
    ['[0:0:0:0:0:0:0:1]', true],
    ['[::ffff:127.0.0.1]', true],
    ['128.0.0.1', false],
    ['localhost.evil.example', false],
    ['evil.example', false],
    ['[::2]', false],
    ['0.0.0.0', false],
  ];
  for (const [hostPort, want] of table) {
    const hostname = hostnameOf(hostPort);
    assert.ok(hostname !== undefined, hostPort);
    assert.equal(isLoopbackHostname(hostname), want, hostPort);
  }
  for (const bad of ['', 'a/b', 'user@localhost', 'localhost?x', 'local host']) assert.equal(hostnameOf(bad), undefined, bad);
});

test('the policy refuses foreign Host headers, foreign or other-port Origins and cross-site fetches', () => {
  const policy = new RequestPolicy(parseAdminAddress('localhost:2019'));
  policy.port = 2019;
  const table: [Record<string, string>, boolean][] = [
    [{ host: 'localhost:2019' }, true],
    [{ host: '127.0.0.1:2019' }, true],
    [{ host: '[::1]:2019' }, true],
    [{ host: 'attacker.example:2019' }, false],
    [{ host: 'attacker.example' }, false],
    [{}, false],
    [{ host: 'localhost:2019', origin: 'http://localhost:2019' }, true],
    [{ host: 'localhost:2019', origin: 'http://127.0.0.1:2019' }, true],
    [{ host: 'localhost:2019', origin: 'http://localhost:3000' }, false],
    [{ host: 'localhost:2019', origin: 'http://localhost' }, false],
    [{ host: 'localhost:2019', origin: 'https://localhost:2019' }, false],
    [{ host: 'localhost:2019', origin: 'http://attacker.example:2019' }, false],
    [{ host: 'localhost:2019', origin: 'null' }, false],
    [{ host: 'localhost:2019', 'sec-fetch-site': 'cross-site' }, false],
    [{ host: 'localhost:2019', 'sec-fetch-site': 'none' }, true],
  ];
  for (const [headers, allowed] of table) {
    assert.equal(policy.refusal(headers) === undefined, allowed, JSON.stringify(headers));
  }
});

test('a configured host is allowed besides loopback names', () => {
  const policy = new RequestPolicy(parseAdminAddress('Admin.Internal:2019'));
  policy.port = 2019;
  assert.equal(policy.refusal({ host: 'admin.internal:2019' }), undefined);
  assert.equal(policy.refusal({ host: 'localhost:2019' }), undefined);
  assert.equal(policy.refusal({ host: 'admin.internal:2019', origin: 'http://admin.internal:2019' }), undefined);
  assert.match(policy.refusal({ host: 'other.internal:2019' }) ?? '', /host not allowed/);
});

test('over a Unix socket Host is not checked, but Origin still is', () => {
  const policy = new RequestPolicy(parseAdminAddress('unix//tmp/admin.sock'));
  assert.equal(policy.refusal({ host: 'anything.example' }), undefined);
  assert.equal(policy.refusal({}), undefined);
  assert.match(policy.refusal({ origin: 'http://attacker.example' }) ?? '', /origin not allowed/);
});
