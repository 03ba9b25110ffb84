/**
 * The Proxyfiles `reverse-proxy` and `file-server` generate: Caddy's address rules for --from
 * (reverseproxy/command.go) and --listen/--domain (fileserver/command.go), each file loading with
 * the meaning intended. Serving them is test/integration/cli-one-liners.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileServerConfig } from '../../../src/cli/file-server.ts';
import { reverseProxyConfig } from '../../../src/cli/reverse-proxy.ts';
import { parseConfig } from '../../../src/config/index.ts';

async function load(text: string): Promise<Awaited<ReturnType<typeof parseConfig>>> {
  return parseConfig(text, { filename: 'generated', env: {} });
}

test('--from: a host means HTTPS on 443, no host or port 80 means HTTP, a scheme decides, IPv6 keeps its brackets', async () => {
  const cases: [string | undefined, string, 'http' | 'https', number][] = [
    [undefined, 'localhost', 'https', 443],
    ['example.com', 'example.com', 'https', 443],
    ['example.com:8443', 'example.com', 'https', 8443],
    ['example.com:80', 'example.com', 'http', 80],
    [':8080', '', 'http', 8080],
    ['http://example.com', 'example.com', 'http', 80],
    ['https://example.com:9443', 'example.com', 'https', 9443],
    ['[::1]:8443', '::1', 'https', 8443],
  ];
  for (const [from, host, protocol, port] of cases) {
    const text = reverseProxyConfig({ to: ['127.0.0.1:9000'], ...(from === undefined ? {} : { from }) });
    const config = await load(text);
    const [a] = config.sites[0]?.addresses ?? [];
    assert.deepEqual({ host: a?.host, protocol: a?.protocol, port: a?.listenPort }, { host, protocol, port }, `--from ${from ?? '(default)'}:\n${text}`);
    assert.equal(config.globals.admin, false, 'no admin API, as Caddy');
  }
});

test('reverse-proxy flags become directives: tls internal, header_up/down, Host, the TLS transport only for https upstreams', async () => {
  const text = reverseProxyConfig({ from: 'app.test', to: ['https://10.0.0.1:8443', 'https://10.0.0.2:8443'], 'internal-certs': true, 'change-host-header': true, insecure: true, 'header-up': ['X-A: one two'], 'header-down': ['X-B: {upstream_hostport}'], 'disable-redirects': true, 'http-port': '8080', 'access-log': true, debug: true });
  assert.equal(
    text,
    '{\n\tadmin off\n\tauto_https disable_redirects\n\thttp_port 8080\n\tdebug\n}\n\nhttps://app.test:443 {\n\ttls internal\n\tlog\n\treverse_proxy https://10.0.0.1:8443 https://10.0.0.2:8443 {\n\t\theader_up Host {upstream_hostport}\n\t\theader_up X-A `one two`\n\t\theader_down X-B {upstream_hostport}\n\t\ttransport http {\n\t\t\ttls_insecure_skip_verify\n\t\t}\n\t}\n}\n',
  );
  const config = await load(text);
  assert.equal(config.globals.autoHttps, 'disable_redirects');
  assert.equal(config.globals.httpPort, 8080);
  // --insecure without an https upstream has nothing to skip (as Caddy).
  assert.doesNotMatch(reverseProxyConfig({ to: [':9000'], insecure: true }), /transport/);
  // --internal-certs for an HTTP site has no certificate to issue.
  assert.doesNotMatch(reverseProxyConfig({ from: ':8080', to: [':9000'], 'internal-certs': true }), /tls internal/);
});

test('reverse-proxy refuses what cannot be written safely into a Proxyfile, naming the flag', () => {
  const bad: [Record<string, string | boolean | string[]>, RegExp][] = [
    [{}, /--to is required/],
    [{ to: ['a b'] }, /--to "a b": expected/],
    [{ to: ['x/{$HOME}'] }, /--to/],
    [{ to: [':1'], from: 'example.com/api' }, /paths are not allowed/],
    [{ to: [':1'], from: 'example.com:70000' }, /out of range/],
    [{ to: [':1'], 'header-up': ['X-A: {$SECRET}'] }, /--header-up "\{\$SECRET\}"/],
    [{ to: [':1'], 'header-up': ['X-A: a`b'] }, /backtick/],
    [{ to: [':1'], 'header-down': ['Bad Name: v'] }, /expected "Field: value"/],
    [{ to: [':1'], 'http-port': '80a' }, /--http-port "80a": not a port number/],
  ];
  for (const [values, message] of bad) assert.throws(() => reverseProxyConfig(values), (err: Error & { code?: string }) => err.code === 'MS_ERR_USAGE' && message.test(err.message), JSON.stringify(values));
});

test('file-server: :80 without a domain, :443 with one, a host in --listen is default_bind, the root absolute', async () => {
  let text = fileServerConfig({}, '/srv/site');
  assert.equal(text, '{\n\tadmin off\n}\n\nhttp://:80 {\n\troot * /srv/site\n\tfile_server\n}\n');
  text = fileServerConfig({ domain: 'files.test', root: 'public', browse: true }, '/srv');
  let config = await load(text);
  assert.deepEqual(config.sites[0]?.addresses.map((a) => [a.host, a.protocol, a.listenPort]), [['files.test', 'https', 443]]);
  assert.match(text, /\troot \* \/srv\/public\n\tfile_server browse\n/);
  text = fileServerConfig({ listen: '[::1]:8080', root: '/with space' }, '/');
  config = await load(text);
  assert.deepEqual(config.globals.defaultBind, ['::1']);
  assert.match(text, /\troot \* `\/with space`\n/);
  assert.throws(() => fileServerConfig({ listen: 'http://:80' }), /without a scheme/);
  assert.throws(() => fileServerConfig({ domain: 'a b' }), /not a host name/);
});
