/**
 * Global options in Caddy's spellings: each parses to the config our older alias gives, the
 * options Caddy has and my-server applies land in the typed globals, the accepted-only ones parse,
 * and every wrong form is a FILE:LINE:COL error at the token at fault.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, type GlobalOptions } from '../../../src/config/index.ts';

const SITE = '\nexample.com {\n\trespond ok\n}\n';

async function globals(body: string): Promise<GlobalOptions> {
  const config = await parseConfig(`{\n${body}\n}\n${SITE}`, { filename: 'P', env: {} });
  return config.globals;
}

/** The globals without `sources`, which differ between spellings only in where they were set. */
async function values(body: string): Promise<Omit<GlobalOptions, 'sources'>> {
  const { sources: _sources, ...rest } = await globals(body);
  return rest;
}

/** The first issue as FILE:LINE:COL: message. */
async function errorOf(body: string): Promise<string> {
  try {
    await globals(body);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n')[0] as string;
    throw err;
  }
  assert.fail(`expected a ConfigError for ${body}`);
}

test("Caddy's spelling and my-server's alias give the same config", async () => {
  const pairs: { name: string; caddy: string; ours: string }[] = [
    { name: 'storage path', caddy: '\tstorage file_system /srv/data', ours: '\tstorage file /srv/data' },
    { name: 'storage root block', caddy: '\tstorage file_system {\n\t\troot /srv/data\n\t}', ours: '\tstorage file /srv/data' },
    { name: 'acme_eab block', caddy: '\tacme_eab {\n\t\tkey_id kid-1\n\t\tmac_key bWFj\n\t}', ours: '\tacme_eab kid-1 bWFj' },
    {
      name: 'cert_issuer acme with dir, email, profile, eab',
      caddy: '\tcert_issuer acme {\n\t\tdir https://ca.test/dir\n\t\temail a@b.test\n\t\tprofile shortlived\n\t\teab kid-1 bWFj\n\t}',
      ours: '\tacme_ca https://ca.test/dir\n\temail a@b.test\n\tacme_profile shortlived\n\tacme_eab kid-1 bWFj',
    },
    { name: 'cert_issuer acme URL', caddy: '\tcert_issuer acme https://ca.test/dir', ours: '\tacme_ca https://ca.test/dir' },
    { name: 'cert_issuer internal', caddy: '\tcert_issuer internal {\n\t\tca local\n\t\tlifetime 12h\n\t\tsign_with_root\n\t}', ours: '\tlocal_certs' },
    { name: 'debug', caddy: '\tdebug', ours: '\tlog {\n\t\tlevel debug\n\t}' },
    { name: 'debug wins over log level, whatever the order', caddy: '\tdebug\n\tlog {\n\t\tlevel warn\n\t}', ours: '\tlog {\n\t\tlevel debug\n\t}' },
    { name: 'auto_https off', caddy: '\tauto_https disable_redirects disable_certs', ours: '\tauto_https off' },
    { name: 'auto_https ignore_loaded_certs', caddy: '\tauto_https ignore_loaded_certs', ours: '' },
    {
      name: 'on_demand_tls permission http',
      caddy: '\ton_demand_tls {\n\t\tpermission http http://127.0.0.1:9/ask\n\t}',
      ours: '\ton_demand_tls {\n\t\task http://127.0.0.1:9/ask\n\t}',
    },
    { name: 'admin block without an address keeps the default', caddy: '\tadmin {\n\t\tenforce_origin\n\t}', ours: '' },
    { name: 'admin with origins', caddy: '\tadmin localhost:2020 {\n\t\torigins localhost:2020\n\t\tenforce_origin\n\t}', ours: '\tadmin localhost:2020' },
  ];
  for (const p of pairs) {
    assert.deepEqual(await values(p.caddy), await values(p.ours), p.name);
  }
});

test('options Caddy has and my-server applies parse into the globals', async () => {
  const cases: { name: string; body: string; expect: Partial<GlobalOptions> }[] = [
    { name: 'shutdown_delay', body: '\tshutdown_delay 30s', expect: { shutdownDelayMs: 30_000 } },
    { name: 'email as Caddy takes it, unchecked (corpus case 40)', body: '\temail VAN_BLOG_EMAIL', expect: { email: 'VAN_BLOG_EMAIL' } },
    { name: 'shutdown_delay 0', body: '\tshutdown_delay 0s', expect: { shutdownDelayMs: 0 } },
    { name: 'default_sni normalised', body: '\tdefault_sni Example.COM.', expect: { defaultSni: 'example.com' } },
    { name: 'default_sni IP', body: '\tdefault_sni 192.0.2.1', expect: { defaultSni: '192.0.2.1' } },
    { name: 'fallback_sni IDN', body: '\tfallback_sni bücher.example', expect: { fallbackSni: 'xn--bcher-kva.example' } },
    { name: 'auto_https disable_certs keeps redirects', body: '\tauto_https disable_certs', expect: { autoHttps: 'on', disableCerts: true } },
    { name: 'auto_https disable_redirects', body: '\tauto_https disable_redirects', expect: { autoHttps: 'disable_redirects' } },
    { name: 'preferred_chains smallest', body: '\tpreferred_chains smallest', expect: { preferredChains: { kind: 'smallest' } } },
    {
      name: 'preferred_chains root names',
      body: '\tpreferred_chains {\n\t\troot_common_name "ISRG Root X2" "ISRG Root X1"\n\t}',
      expect: { preferredChains: { kind: 'root_common_name', names: ['ISRG Root X2', 'ISRG Root X1'] } },
    },
    {
      name: 'cert_issuer acme challenges and chains',
      body: '\tcert_issuer acme {\n\t\tdisable_tlsalpn_challenge\n\t\tpreferred_chains {\n\t\t\tany_common_name R11\n\t\t}\n\t}',
      expect: { challenges: ['http-01'], preferredChains: { kind: 'any_common_name', names: ['R11'] } },
    },
    {
      name: "the issuer's values win over the single options, whatever the order",
      body: '\tcert_issuer acme https://issuer.test/dir {\n\t\temail issuer@b.test\n\t}\n\tacme_ca https://single.test/dir\n\temail single@b.test',
      expect: { acmeCa: 'https://issuer.test/dir', email: 'issuer@b.test' },
    },
  ];
  for (const c of cases) {
    const g = await globals(c.body);
    for (const [key, value] of Object.entries(c.expect)) {
      assert.deepEqual(g[key as keyof GlobalOptions], value, `${c.name}: ${key}`);
    }
  }
});

test('options accepted without effect parse and change nothing but where they were set', async () => {
  const base = await values('');
  for (const body of [
    '\tpersist_config off',
    '\tocsp_stapling off',
    '\tocsp_interval 2h',
    '\trenew_interval 30m',
    '\tstorage_clean_interval 7d',
    '\tskip_install_trust',
    '\tgrace_period 30s',
  ]) {
    assert.deepEqual(await values(body), base, body);
    const name = body.trim().split(/\s/)[0] as keyof GlobalOptions['sources'];
    assert.deepEqual((await globals(body)).sources[name], { file: 'P', line: 2, col: 2 }, body);
  }
});

test('wrong global options fail with FILE:LINE:COL at the token at fault', async () => {
  const cases: { body: string; expect: string }[] = [
    { body: '\tpersist_config on', expect: 'P:2:17: persist_config: unsupported value "on" (only off: my-server never persists its config)' },
    { body: '\tocsp_stapling on', expect: 'P:2:16: ocsp_stapling: unsupported value "on" (only off: my-server does not staple OCSP responses)' },
    { body: '\tdebug on', expect: 'P:2:8: debug: unexpected argument "on" (usage: debug)' },
    { body: '\tshutdown_delay soon', expect: 'P:2:17: invalid duration "soon": use a number with a unit, as in 30s, 1m30s, 500ms, 2h or 1d' },
    { body: '\tdefault_sni', expect: 'P:2:2: default_sni: missing argument (usage: default_sni NAME)' },
    { body: '\tdefault_sni https://a.test', expect: 'P:2:14: default_sni: "https://a.test" is not a host name' },
    { body: '\tfallback_sni a..b', expect: 'P:2:15: fallback_sni: "a..b" is not a host name' },
    { body: '\trenew_interval 0s', expect: 'P:2:17: invalid duration "0s": must be greater than zero' },
    { body: '\tauto_https sometimes', expect: 'P:2:13: auto_https: unsupported value "sometimes" (use off, disable_redirects, disable_certs, ignore_loaded_certs, prefer_wildcard)' },
    { body: '\tadmin off {\n\t\torigins x\n\t}', expect: 'P:2:12: admin does not take a block' },
    { body: '\tadmin :2019 {\n\t\tallow all\n\t}', expect: 'P:3:3: unknown subdirective "allow" in admin' },
    { body: '\tkey_type ed25519', expect: 'P:2:11: key type "ed25519" is not supported yet: public ACME CAs refuse Ed25519 keys and the local CA does not issue them (use p256)' },
    { body: '\tstorage s3 bucket', expect: 'P:2:10: storage: unsupported module "s3" (use file_system or redis)' },
    { body: '\tstorage file_system /a {\n\t\troot /b\n\t}', expect: 'P:3:3: storage: the path is already set' },
    { body: '\tacme_eab {\n\t\tkey_id k\n\t}', expect: 'P:2:2: acme_eab needs both key_id and mac_key' },
    { body: '\tcert_issuer zerossl KEY', expect: 'P:2:14: cert_issuer: unsupported issuer "zerossl" (ZeroSSL: use acme with its directory URL and eab) (use acme or internal)' },
    { body: '\tcert_issuer acme {\n\t\tdns cloudflare TOKEN\n\t}', expect: 'P:3:3: unknown subdirective "dns" in cert_issuer acme' },
    { body: '\tcert_issuer acme https://a.test/dir {\n\t\tdir https://b.test/dir\n\t}', expect: 'P:3:3: cert_issuer acme: the directory URL is already given as an argument' },
    { body: '\tcert_issuer acme {\n\t\tdisable_http_challenge\n\t\tdisable_tlsalpn_challenge\n\t}', expect: 'P:2:2: cert_issuer acme: every challenge is disabled, so no certificate could be validated' },
    { body: '\tcert_issuer acme\n\tcert_issuer internal', expect: 'P:3:2: cert_issuer is already set at P:2:2' },
    { body: '\tcert_issuer internal {\n\t\tca other\n\t}', expect: 'P:3:6: cert_issuer internal: unknown CA "other" (only the built-in "local" CA exists)' },
    { body: '\tcert_issuer acme {\n\t\teab only-key\n\t}', expect: 'P:3:3: eab: missing argument (usage: eab KEY_ID MAC_KEY)' },
    { body: '\ton_demand_tls {\n\t\tpermission tailscale\n\t}', expect: 'P:3:3: permission: missing argument (usage: permission http URL)' },
    { body: '\ton_demand_tls {\n\t\tpermission module x\n\t}', expect: 'P:3:14: on_demand_tls: unsupported permission module "module" (use http, or ask URL)' },
    { body: '\ton_demand_tls {\n\t\task http://a.test/\n\t\tpermission http http://b.test/\n\t}', expect: 'P:4:3: on_demand_tls: ask and permission cannot both be set' },
    { body: '\tpki {\n\t\tca local\n\t}', expect: 'P:2:2: "pki" is a Caddy global option my-server does not support: there is one built-in local CA (my-server certs root prints its root) (see docs/caddy-migration.md)' },
    { body: '\tno_such_option', expect: 'P:2:2: unknown global option "no_such_option"' },
    { body: '\tpreferred_chains biggest', expect: 'P:2:19: preferred_chains: unknown argument "biggest" (usage: preferred_chains smallest | preferred_chains { root_common_name CN... } | preferred_chains { any_common_name CN... })' },
    { body: '\tpreferred_chains {\n\t\troot_common_name A\n\t\tany_common_name B\n\t}', expect: 'P:4:3: preferred_chains: any_common_name cannot be combined with root_common_name' },
    { body: '\tpreferred_chains {\n\t}', expect: 'P:2:2: preferred_chains: missing option (usage: preferred_chains smallest | preferred_chains { root_common_name CN... } | preferred_chains { any_common_name CN... })' },
    { body: '\tpreferred_chains smallest {\n\t\troot_common_name A\n\t}', expect: 'P:2:28: preferred_chains: smallest takes no block' },
  ];
  const got = [];
  for (const c of cases) got.push(await errorOf(c.body));
  assert.deepEqual(got, cases.map((c) => c.expect));
});
