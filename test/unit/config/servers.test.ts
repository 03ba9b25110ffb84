import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, type ServerOptions } from '../../../src/config/index.ts';

const SITE = '\nexample.com {\n\trespond ok\n}\n';

async function servers(globals: string): Promise<readonly ServerOptions[] | undefined> {
  const config = await parseConfig(`{\n${globals}\n}\n${SITE}`, { filename: 'P', env: {} });
  return config.globals.servers;
}

/** The first issue as FILE:LINE:COL: message. */
async function errorOf(globals: string): Promise<string> {
  try {
    await servers(globals);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n')[0] as string;
    throw err;
  }
  assert.fail(`expected a ConfigError for ${globals}`);
}

test('servers blocks parse into typed options with Caddy defaults for what they do not set', async () => {
  const cases: { name: string; globals: string; expect: readonly Partial<ServerOptions>[] | undefined }[] = [
    { name: 'no servers option', globals: '\temail a@b.c', expect: undefined },
    {
      name: 'empty block: defaults',
      globals: '\tservers {\n\t}',
      expect: [{ trustedProxies: [], trustedProxiesStrict: false, clientIpHeaders: ['X-Forwarded-For'], protocols: ['h1', 'h2', 'h3'], timeouts: {}, logCredentials: false, enableFullDuplex: false }],
    },
    {
      name: 'static ranges, IPv4 and IPv6, bare addresses',
      globals: '\tservers {\n\t\ttrusted_proxies static 10.0.0.0/8 127.0.0.1/8 ::1 2001:db8::/32 192.0.2.7\n\t}',
      expect: [{ trustedProxies: ['10.0.0.0/8', '127.0.0.1/8', '::1', '2001:db8::/32', '192.0.2.7'] }],
    },
    {
      name: 'private_ranges is Caddy list',
      globals: '\tservers {\n\t\ttrusted_proxies static private_ranges\n\t}',
      expect: [{ trustedProxies: ['192.168.0.0/16', '172.16.0.0/12', '10.0.0.0/8', '127.0.0.1/8', 'fd00::/8', '::1'] }],
    },
    {
      name: 'private_ranges as the source',
      globals: '\tservers {\n\t\ttrusted_proxies private_ranges\n\t}',
      expect: [{ trustedProxies: ['192.168.0.0/16', '172.16.0.0/12', '10.0.0.0/8', '127.0.0.1/8', 'fd00::/8', '::1'] }],
    },
    {
      name: 'every subdirective',
      globals: [
        '\tservers :443 {',
        '\t\ttrusted_proxies static 10.0.0.0/8',
        '\t\ttrusted_proxies_strict',
        '\t\tclient_ip_headers CF-Connecting-IP X-Forwarded-For',
        '\t\tprotocols h1 h2 h2c',
        '\t\ttimeouts {\n\t\t\tread_body 10s\n\t\t\tread_header 5s\n\t\t\twrite 30s\n\t\t\tidle 2m\n\t\t}',
        '\t\tkeepalive_interval 30s',
        '\t\tmax_header_size 16KB',
        '\t\tstrict_sni_host insecure_off',
        '\t\tlog_credentials',
        '\t\tenable_full_duplex',
        '\t\tmetrics {\n\t\t\tper_host\n\t\t}',
        '\t}',
      ].join('\n'),
      expect: [
        {
          address: ':443',
          port: 443,
          trustedProxies: ['10.0.0.0/8'],
          trustedProxiesStrict: true,
          clientIpHeaders: ['CF-Connecting-IP', 'X-Forwarded-For'],
          protocols: ['h1', 'h2', 'h2c'],
          timeouts: { readBodyMs: 10_000, readHeaderMs: 5_000, writeMs: 30_000, idleMs: 120_000 },
          keepaliveIntervalMs: 30_000,
          maxHeaderSize: 16_000,
          strictSniHost: 'insecure_off',
          logCredentials: true,
          enableFullDuplex: true,
          metrics: { perHost: true },
        },
      ],
    },
    {
      name: 'one block per address, plus one for all',
      globals: '\tservers :443 {\n\t\tprotocols h1\n\t}\n\tservers {\n\t\tmetrics\n\t}\n\tservers 127.0.0.1:8080 {\n\t\tmax_header_size 1MiB\n\t}',
      expect: [
        { address: ':443', port: 443, protocols: ['h1'] },
        { metrics: { perHost: false } },
        { address: '127.0.0.1:8080', port: 8080, maxHeaderSize: 1024 * 1024 },
      ],
    },
    { name: 'strict_sni_host alone is on', globals: '\tservers {\n\t\tstrict_sni_host\n\t}', expect: [{ strictSniHost: 'on' }] },
  ];
  for (const c of cases) {
    const got = await servers(c.globals);
    if (c.expect === undefined) {
      assert.equal(got, undefined, c.name);
      continue;
    }
    assert.equal(got?.length, c.expect.length, c.name);
    c.expect.forEach((want, i) => {
      const g = got?.[i] as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(want)) assert.deepEqual(g[key], value, `${c.name}: ${key}`);
      if (!('address' in want)) assert.equal(g['address'], undefined, `${c.name}: address`);
    });
  }
});

test('bad servers values are errors at FILE:LINE:COL of the token at fault', async () => {
  const cases: [globals: string, error: string][] = [
    ['\tservers {\n\t\ttrusted_proxies static 10.0.0.0/33\n\t}', 'P:3:26: trusted_proxies: invalid range "10.0.0.0/33": prefix length "/33" must be 0-32'],
    ['\tservers {\n\t\ttrusted_proxies static ::1/129\n\t}', 'P:3:26: trusted_proxies: invalid range "::1/129": prefix length "/129" must be 0-128'],
    ['\tservers {\n\t\ttrusted_proxies static example.com\n\t}', 'P:3:26: trusted_proxies: invalid range "example.com": "example.com" is not an IP address'],
    ['\tservers {\n\t\ttrusted_proxies cloudflare\n\t}', 'P:3:19: trusted_proxies: unsupported source "cloudflare" (use static or private_ranges)'],
    ['\tservers {\n\t\ttrusted_proxies static\n\t}', 'P:3:19: trusted_proxies static: missing CIDR (usage: trusted_proxies static CIDR...|private_ranges)'],
    ['\tservers {\n\t\ttrusted_proxies\n\t}', 'P:3:3: trusted_proxies: missing argument (usage: trusted_proxies static CIDR...|private_ranges)'],
    ['\tservers {\n\t\ttrusted_proxies_strict yes\n\t}', 'P:3:26: trusted_proxies_strict: unexpected argument "yes" (usage: trusted_proxies_strict)'],
    ['\tservers {\n\t\tclient_ip_headers\n\t}', 'P:3:3: client_ip_headers: missing argument (usage: client_ip_headers NAME...)'],
    ['\tservers {\n\t\tclient_ip_headers X:Y\n\t}', 'P:3:21: invalid header name "X:Y"'],
    ['\tservers {\n\t\tprotocols h1 h4\n\t}', 'P:3:16: protocols: unsupported protocol "h4" (use h1, h2, h2c, h3)'],
    ['\tservers {\n\t\ttimeouts {\n\t\t\tread_body soon\n\t\t}\n\t}', 'P:4:14: invalid duration "soon": use a number with a unit, as in 30s, 1m30s, 500ms, 2h or 1d'],
    ['\tservers {\n\t\ttimeouts {\n\t\t\tlinger 1s\n\t\t}\n\t}', 'P:4:4: unknown subdirective "linger" in timeouts'],
    ['\tservers {\n\t\tkeepalive_interval -1s\n\t}', 'P:3:22: invalid duration "-1s": must not be negative'],
    ['\tservers {\n\t\tmax_header_size lots\n\t}', 'P:3:19: max_header_size: invalid size "lots" (use bytes, or a unit as in 16KB or 1MiB)'],
    ['\tservers {\n\t\tstrict_sni_host maybe\n\t}', 'P:3:19: strict_sni_host: unsupported value "maybe" (use on or insecure_off)'],
    ['\tservers {\n\t\tlog_credentials {\n\t\t}\n\t}', 'P:3:19: log_credentials does not take a block'],
    ['\tservers {\n\t\tmetrics {\n\t\t\tper_site\n\t\t}\n\t}', 'P:4:4: unknown subdirective "per_site" in metrics'],
    ['\tservers {\n\t\tname main\n\t}', 'P:3:3: unknown subdirective "name" in servers'],
    ['\tservers {\n\t\tprotocols h1\n\t\tprotocols h2\n\t}', 'P:4:3: protocols is already set at P:3:3'],
    ['\tservers example.com {\n\t}', 'P:2:10: servers: invalid listener address "example.com" (use :PORT or HOST:PORT)'],
    ['\tservers :70000 {\n\t}', 'P:2:10: invalid port "70000": must be 1-65535'],
    ['\tservers :443 {\n\t}\n\tservers :443 {\n\t}', 'P:4:10: servers :443 is already set at P:2:2'],
    ['\tservers {\n\t}\n\tservers {\n\t}', 'P:4:2: servers without an address is already set at P:2:2'],
    // A listener takes its block by port: a second block for the port would never apply.
    ['\tservers :443 {\n\t}\n\tservers 10.0.0.1:443 {\n\t}', 'P:4:10: servers 10.0.0.1:443 is already set at P:2:2'],
    ['\tservers', 'P:2:2: servers needs a block (usage: servers [ADDR] { trusted_proxies …; client_ip_headers …; … })'],
  ];
  for (const [globals, error] of cases) assert.equal(await errorOf(globals), error, globals);
});
