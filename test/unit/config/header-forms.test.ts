import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/config/index.ts';
import type { HeaderOp, HeaderRoute, ReverseProxyRoute } from '../../../src/config/types.ts';

async function headerRoute(directive: string): Promise<HeaderRoute> {
  const config = await parseConfig(`http://site.test {\n\t${directive}\n}\n`, { filename: 'Proxyfile' });
  const route = config.sites[0]!.routes[0] as HeaderRoute;
  assert.equal(route.kind, 'header');
  return route;
}

async function proxyOps(sub: string): Promise<{ up: readonly HeaderOp[]; down: readonly HeaderOp[] }> {
  const config = await parseConfig(`http://site.test {\n\treverse_proxy 127.0.0.1:9 {\n\t\t${sub}\n\t}\n}\n`, {
    filename: 'Proxyfile',
  });
  const route = config.sites[0]!.routes[0] as ReverseProxyRoute;
  return { up: route.headerUp, down: route.headerDown };
}

async function parseError(text: string): Promise<string> {
  try {
    await parseConfig(text, { filename: 'Proxyfile' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  throw new Error('expected a config error');
}

const forms: { line: string; ops: HeaderOp[]; deferred: boolean }[] = [
  { line: 'header X-Set v', ops: [{ op: 'set', name: 'X-Set', value: 'v' }], deferred: false },
  { line: 'header X-Empty', ops: [{ op: 'set', name: 'X-Empty', value: '' }], deferred: false },
  { line: 'header +X-Add v', ops: [{ op: 'add', name: 'X-Add', value: 'v' }], deferred: false },
  { line: 'header -X-Del', ops: [{ op: 'delete', name: 'X-Del' }], deferred: true },
  { line: 'header -X-Secret-*', ops: [{ op: 'delete', name: 'X-Secret-*' }], deferred: true },
  { line: 'header -*', ops: [{ op: 'delete', name: '*' }], deferred: true },
  { line: 'header ?Cache-Control "max-age=60"', ops: [{ op: 'default', name: 'Cache-Control', value: 'max-age=60' }], deferred: true },
  { line: 'header >X-Late v', ops: [{ op: 'set', name: 'X-Late', value: 'v' }], deferred: true },
  {
    line: 'header Location ^http://(.*)$ https://$1',
    ops: [{ op: 'replace', name: 'Location', search: '^http://(.*)$', searchFlags: '', replace: 'https://$1' }],
    deferred: false,
  },
  {
    line: 'header >Set-Cookie "(?i)(?P<k>sid)=" "${k}_v=${1}"',
    ops: [{ op: 'replace', name: 'Set-Cookie', search: '(?<k>sid)=', searchFlags: 'i', replace: '$<k>_v=$1' }],
    deferred: true,
  },
  // A leading `*` is the match-all matcher, as in Caddy; the field `*` (every field) comes after it.
  { line: 'header * * secret hidden', ops: [{ op: 'replace', name: '*', search: 'secret', searchFlags: '', replace: 'hidden' }], deferred: false },
  { line: 'header /api/* X-Api 1', ops: [{ op: 'set', name: 'X-Api', value: '1' }], deferred: false },
  {
    // The block: Caddy's application order (-*, adds, sets/defaults, deletes, replaces); adds keep the order written.
    line: 'header {\n\t\tX-Replace a b\n\t\t-X-Gone\n\t\t+X-Multi one\n\t\tX-Set v\n\t\t?X-Default d\n\t\t+X-Multi two\n\t\t-*\n\t\tContent-Type: text/plain\n\t}',
    ops: [
      { op: 'delete', name: '*' },
      { op: 'add', name: 'X-Multi', value: 'one' },
      { op: 'add', name: 'X-Multi', value: 'two' },
      { op: 'set', name: 'X-Set', value: 'v' },
      { op: 'default', name: 'X-Default', value: 'd' },
      { op: 'set', name: 'Content-Type', value: 'text/plain' },
      { op: 'delete', name: 'X-Gone' },
      { op: 'replace', name: 'X-Replace', search: 'a', searchFlags: '', replace: 'b' },
    ],
    deferred: true,
  },
  { line: 'header {\n\t\tX-Only v\n\t\tdefer\n\t}', ops: [{ op: 'set', name: 'X-Only', value: 'v' }], deferred: true },
];

for (const { line, ops, deferred } of forms) {
  test(`header form parses: ${line.split('\n')[0]}${line.includes('\n') ? ' …' : ''}`, async () => {
    const route = await headerRoute(line);
    assert.deepEqual(route.ops, ops);
    assert.equal(route.deferred, deferred);
  });
}

test('header_up and header_down take the same forms through the shared line parser', async () => {
  const { up, down } = await proxyOps(
    'header_up +X-Multi a\n\t\theader_up X-Real-IP {remote_host}\n\t\theader_up +X-Multi b\n\t\theader_up -X-Drop-*\n\t\theader_up Host (.*) up.$1\n\t\theader_down >Server mine\n\t\theader_down Location ^http: https:',
  );
  assert.deepEqual(up, [
    { op: 'add', name: 'X-Multi', value: 'a' },
    { op: 'add', name: 'X-Multi', value: 'b' },
    { op: 'set', name: 'X-Real-IP', value: '{remote_host}' },
    { op: 'delete', name: 'X-Drop-*' },
    { op: 'replace', name: 'Host', search: '(.*)', searchFlags: '', replace: 'up.$1' },
  ]);
  assert.deepEqual(down, [
    { op: 'set', name: 'Server', value: 'mine' },
    { op: 'replace', name: 'Location', search: '^http:', searchFlags: '', replace: 'https:' },
  ]);
});

const errors: { text: string; message: string }[] = [
  {
    text: 'http://a.test {\n\theader X-Bad "([a-z" x\n}\n',
    message: 'Proxyfile:2:15: invalid regexp "([a-z": Invalid regular expression: /([a-z/: Unterminated character class',
  },
  {
    text: 'http://a.test {\n\theader {\n\t\tX-Bad \\Qa.b\\E x\n\t}\n}\n',
    message: 'Proxyfile:3:9: invalid regexp "\\Qa.b\\E": "\\Q" is Go RE2 syntax JavaScript reads differently',
  },
  {
    text: 'http://a.test {\n\treverse_proxy 127.0.0.1:9 {\n\t\theader_up ?X-Default v\n\t}\n}\n',
    message:
      "Proxyfile:3:13: header_up: the default header modifier ('?') can only be used on response headers of the header directive",
  },
  {
    text: 'http://a.test {\n\theader +X-Add a b\n}\n',
    message: 'Proxyfile:2:18: header: "+NAME" takes no search and replacement (usage: header [MATCHER] [+|-|?|>]NAME [VALUE|SEARCH] [REPLACE])',
  },
  {
    text: 'http://a.test {\n\theader X a b c\n}\n',
    message: 'Proxyfile:2:15: header: unexpected argument "c" (usage: header [MATCHER] [+|-|?|>]NAME [VALUE|SEARCH] [REPLACE])',
  },
  {
    text: 'http://a.test {\n\theader X-* v\n}\n',
    message: 'Proxyfile:2:9: invalid header name "X-*": wildcards only work with -',
  },
  {
    text: 'http://a.test {\n\theader {\n\t\tdefer now\n\t}\n}\n',
    message: 'Proxyfile:3:9: defer: unexpected argument "now" (usage: defer)',
  },
];

for (const { text, message } of errors) {
  test(`header error names FILE:LINE:COL: ${message.slice(message.indexOf(' ') + 1, message.indexOf(' ') + 50)}`, async () => {
    assert.equal(await parseError(text), message);
  });
}

test('a value after -NAME is ignored, as Caddy does (corpus case 34: `-Server Caddy`)', async () => {
  const r = await headerRoute('header {\n\t\t-Server Caddy\n\t}');
  assert.deepEqual(r.ops, [{ op: 'delete', name: 'Server' }]);
});
