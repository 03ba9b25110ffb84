import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseConfig } from '../../src/config/index.ts';
import { maskIps, transformRecord, type LogRecord } from '../../src/log-format.ts';
import { loggerFilter } from '../../src/log.ts';

const h = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

/** An access entry with Caddy's field names, as src/app/access-log.ts writes it. */
function entry(): LogRecord {
  return {
    level: 'info',
    time: '2026-01-01T00:00:00.000Z',
    logger: 'http.log.access.log0',
    msg: 'handled request',
    request: {
      remote_ip: '203.0.113.77',
      remote_port: '51234',
      client_ip: '2001:db8:abcd:12::7',
      proto: 'HTTP/1.1',
      method: 'GET',
      host: 'a.test',
      uri: '/cb?state=xyz&code=s3cr3t&keep=a+b',
      headers: {
        'User-Agent': ['curl/8'],
        Cookie: ['session=abc; theme=dark', 'secret=42'],
        'X-Forwarded-For': ['198.51.100.9, 10.1.2.3:8080'],
      },
    },
    status: 200,
    size: 12,
  };
}

/** The `format` of a site `log` block whose format lines are `lines`, through the real parser. */
async function formatOf(lines: string): Promise<NonNullable<NonNullable<Awaited<ReturnType<typeof parseConfig>>['sites'][0]>['log']>['format']> {
  const config = await parseConfig(`a.test {\n\tlog {\n\t\tformat filter {\n${lines}\n\t\t}\n\t}\n}\n`, { filename: 'P', env: {} });
  return config.sites[0]?.log?.format;
}

type Change = (e: LogRecord & { request: Record<string, unknown> & { headers: Record<string, unknown> } }) => void;

const CASES: readonly { name: string; lines: string; change: Change }[] = [
  { name: 'delete a nested header', lines: 'request>headers>User-Agent delete', change: (e) => void delete e.request.headers['User-Agent'] },
  { name: 'delete a whole object', lines: 'request>headers delete', change: (e) => void delete (e.request as Record<string, unknown>)['headers'] },
  { name: 'delete a field that is absent changes nothing', lines: 'request>headers>Authorization delete', change: () => undefined },
  {
    name: 'rename keeps the value under the new key',
    lines: 'request>remote_port rename port',
    change: (e) => {
      delete (e.request as Record<string, unknown>)['remote_port'];
      e.request['port'] = '51234';
    },
  },
  { name: 'replace a string', lines: 'request>host replace REDACTED', change: (e) => void (e.request['host'] = 'REDACTED') },
  { name: 'replace an array with a string', lines: 'request>headers>Cookie replace gone', change: (e) => void (e.request.headers['Cookie'] = 'gone') },
  { name: 'hash a string', lines: 'request>host hash', change: (e) => void (e.request['host'] = h('a.test')) },
  { name: 'hash each value of a header', lines: 'request>headers>User-Agent hash', change: (e) => void (e.request.headers['User-Agent'] = [h('curl/8')]) },
  { name: 'ip_mask with positional prefix lengths (v4)', lines: 'request>remote_ip ip_mask 16 32', change: (e) => void (e.request['remote_ip'] = '203.0.0.0') },
  { name: 'ip_mask with positional prefix lengths (v6)', lines: 'request>client_ip ip_mask 16 32', change: (e) => void (e.request['client_ip'] = '2001:db8::') },
  { name: 'ip_mask with a block', lines: 'request>client_ip ip_mask {\n\t\t\t\tipv4 24\n\t\t\t\tipv6 48\n\t\t\t}', change: (e) => void (e.request['client_ip'] = '2001:db8:abcd::') },
  {
    name: 'ip_mask on a comma-separated header, ports kept',
    lines: 'request>headers>X-Forwarded-For ip_mask 8 32',
    change: (e) => void (e.request.headers['X-Forwarded-For'] = ['198.0.0.0, 10.0.0.0:8080']),
  },
  {
    name: 'query: delete, replace and hash; keys sorted and re-encoded as Go does',
    lines: 'request>uri query {\n\t\t\t\tdelete state\n\t\t\t\treplace keep X\n\t\t\t\thash code\n\t\t\t}',
    change: (e) => void (e.request['uri'] = `/cb?code=${h('s3cr3t')}&keep=X`),
  },
  { name: 'query: a key not there changes only the encoding', lines: 'request>uri query {\n\t\t\t\tdelete nope\n\t\t\t}', change: (e) => void (e.request['uri'] = '/cb?code=s3cr3t&keep=a+b&state=xyz') },
  {
    name: 'cookie: replace, delete and hash; one Cookie value comes back',
    lines: 'request>headers>Cookie cookie {\n\t\t\t\treplace session REDACTED\n\t\t\t\tdelete theme\n\t\t\t\thash secret\n\t\t\t}',
    change: (e) => void (e.request.headers['Cookie'] = [`session=REDACTED; secret=${h('42')}`]),
  },
  {
    name: 'cookie: the first action for a name wins',
    lines: 'request>headers>Cookie cookie {\n\t\t\t\tdelete session\n\t\t\t\treplace session X\n\t\t\t}',
    change: (e) => void (e.request.headers['Cookie'] = ['theme=dark; secret=42']),
  },
  {
    name: 'regexp with a Go-style ${1} replacement',
    lines: 'request>uri regexp "code=([^&]+)" "code=<${1}>"',
    change: (e) => void (e.request['uri'] = '/cb?state=xyz&code=<s3cr3t>&keep=a+b'),
  },
  {
    name: 'regexp on every value of a header, named group',
    lines: 'request>headers>User-Agent regexp "(?P<prog>[a-z]+)/[0-9]+" "$prog"',
    change: (e) => void (e.request.headers['User-Agent'] = ['curl']),
  },
  {
    name: 'the fields { } block form',
    lines: 'fields {\n\t\t\t\trequest>host delete\n\t\t\t\tstatus replace x\n\t\t\t}',
    change: (e) => {
      delete (e.request as Record<string, unknown>)['host'];
      e['status'] = 'x';
    },
  },
  { name: 'a later filter for the same field replaces the earlier one', lines: 'request>host delete\n\t\t\trequest>host replace h', change: (e) => void (e.request['host'] = 'h') },
];

for (const c of CASES) {
  test(`log filter: ${c.name}`, async () => {
    const format = await formatOf(c.lines.replace(/^/gm, '\t\t\t'));
    const got = entry();
    const base = transformRecord(got, format);
    const want = entry() as Parameters<Change>[0];
    c.change(want);
    assert.deepEqual(got, want);
    assert.equal(base, undefined, 'no wrap: the output decides json or console');
  });
}

test('format append adds fields (env placeholders read when written); wrap chains run outermost first', async () => {
  process.env['MS_TEST_SERVER_ID'] = 'srv-7';
  const config = await parseConfig(
    `a.test {\n\tlog {\n\t\tformat append {\n\t\t\tserver_id {env.MS_TEST_SERVER_ID}\n\t\t\tshard 3\n\t\t\tcanary true\n\t\t\tquoted "3"\n\t\t\tunknown {nope.x}\n\t\t\twrap filter {\n\t\t\t\tserver_id hash\n\t\t\t\trequest delete\n\t\t\t\twrap console\n\t\t\t}\n\t\t}\n\t}\n}\n`,
    { filename: 'P', env: {} },
  );
  const rec = entry();
  const base = transformRecord(rec, config.sites[0]?.log?.format);
  assert.equal(base, 'console');
  assert.equal(rec['request'], undefined);
  // append wraps filter: the appended field passes through the filter, as in Caddy.
  assert.equal(rec['server_id'], h('srv-7'));
  assert.equal(rec['shard'], 3);
  assert.equal(rec['canary'], true);
  assert.equal(rec['quoted'], '3');
  assert.equal(rec['unknown'], null);
});

test('ip_mask: a family without a prefix length is masked entirely; IPv4-mapped IPv6 as IPv4; non-addresses kept', () => {
  assert.equal(maskIps('192.0.2.1', 24, undefined), '192.0.2.0');
  assert.equal(maskIps('2001:db8::1', 24, undefined), '::');
  assert.equal(maskIps('::ffff:192.0.2.1', 16, 64), '192.0.0.0');
  assert.equal(maskIps('[2001:db8:1:2::9]:443', 16, 48), '[2001:db8:1::]:443');
  assert.equal(maskIps('unknown, 10.9.8.7', 8, 32), 'unknown, 10.0.0.0');
  assert.equal(maskIps('10.9.8.7', 32, 128), '10.9.8.7');
});

test("include/exclude follow Caddy's longest-namespace rule", () => {
  const cases: readonly [readonly string[], readonly string[], string, boolean][] = [
    [[], [], 'anything', true],
    [['http.log.access'], [], 'http.log.access.log0', true],
    [['http.log.access'], [], 'http.log.accessory', false],
    [['http.log.access'], [], 'tls', false],
    [[], ['http.log.access'], 'http.log.access.log1', false],
    [[], ['http.log.access'], 'acme', true],
    [['http'], ['http.log.access'], 'http.log.access.x', false],
    [['http.log.access.foo'], ['http.log.access'], 'http.log.access.foo', true],
    [['http.log.access.foo'], ['http.log.access'], 'http.log.access.bar', false],
  ];
  for (const [include, exclude, name, want] of cases) assert.equal(loggerFilter(include, exclude)(name), want, `${include}/${exclude} ${name}`);
});
