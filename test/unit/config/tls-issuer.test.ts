/**
 * The site `tls` directive in Caddy's issuer spelling: `issuer acme [URL] { … }` and
 * `issuer internal { … }` give the config our older forms give, reach the issuer choice
 * (issuerFor), and contradictions are FILE:LINE:COL errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issuerFor } from '../../../src/config/adapt.ts';
import { ConfigError, parseConfig, type Config, type TlsConfig } from '../../../src/config/index.ts';

function site(tls: string, globals = ''): string {
  return `${globals ? `{\n${globals}\n}\n` : ''}a.example.com {\n${tls}\n\trespond ok\n}\n`;
}

async function config(text: string): Promise<Config> {
  return parseConfig(text, { filename: 'P', env: {} });
}

async function tlsOf(tls: string): Promise<Omit<TlsConfig, 'pos'>> {
  const { pos: _pos, ...rest } = (await config(site(tls))).sites[0]!.tls;
  return rest;
}

async function errorOf(text: string): Promise<string> {
  try {
    await config(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n')[0] as string;
    throw err;
  }
  assert.fail(`expected a ConfigError for ${text}`);
}

test("tls issuer blocks in Caddy's spelling give the config of our older forms", async () => {
  const pairs: { name: string; caddy: string; ours: string }[] = [
    { name: 'issuer acme URL', caddy: '\ttls {\n\t\tissuer acme https://ca.test/dir\n\t}', ours: '\ttls {\n\t\tca https://ca.test/dir\n\t}' },
    { name: 'issuer acme { dir }', caddy: '\ttls {\n\t\tissuer acme {\n\t\t\tdir https://ca.test/dir\n\t\t}\n\t}', ours: '\ttls {\n\t\tca https://ca.test/dir\n\t}' },
    { name: 'issuer acme { email }', caddy: '\ttls {\n\t\tissuer acme {\n\t\t\temail a@b.test\n\t\t}\n\t}', ours: '\ttls a@b.test' },
    {
      name: 'disable_tlsalpn_challenge',
      caddy: '\ttls {\n\t\tissuer acme {\n\t\t\tdisable_tlsalpn_challenge\n\t\t}\n\t}',
      ours: '\ttls {\n\t\tissuer acme\n\t\tchallenges http-01\n\t}',
    },
    {
      name: 'disable_http_challenge',
      caddy: '\ttls {\n\t\tissuer acme {\n\t\t\tdisable_http_challenge\n\t\t}\n\t}',
      ours: '\ttls {\n\t\tissuer acme\n\t\tchallenges tls-alpn-01\n\t}',
    },
    { name: 'issuer acme { eab }', caddy: '\ttls {\n\t\tissuer acme {\n\t\t\teab kid mac\n\t\t}\n\t}', ours: '\ttls {\n\t\tissuer acme\n\t\teab kid mac\n\t}' },
    { name: 'issuer internal { ca local }', caddy: '\ttls {\n\t\tissuer internal {\n\t\t\tca local\n\t\t}\n\t}', ours: '\ttls internal' },
  ];
  for (const p of pairs) assert.deepEqual(await tlsOf(p.caddy), await tlsOf(p.ours), p.name);
});

test("a site's issuer acme settings reach its issuer choice; the globals fill what it leaves out", async () => {
  const c = await config(
    site(
      '\ttls {\n\t\tissuer acme https://ca.test/dir {\n\t\t\temail site@b.test\n\t\t\tprofile shortlived\n\t\t\teab kid mac\n\t\t\tpreferred_chains {\n\t\t\t\troot_common_name "Root X2"\n\t\t\t}\n\t\t}\n\t}',
      '\temail global@b.test\n\tacme_profile classic',
    ) + 'b.example.com {\n\trespond ok\n}\n',
  );
  assert.deepEqual(issuerFor(c.sites[0], c.globals, 'a.example.com'), {
    kind: 'acme',
    ca: 'https://ca.test/dir',
    email: 'site@b.test',
    profile: 'shortlived',
    eab: { keyId: 'kid', macKey: 'mac' },
    preferredChains: { kind: 'root_common_name', names: ['Root X2'] },
  });
  // The other site has no issuer settings: the global email; profile comes from AcmeSettings (acme_profile) in app/stack.ts.
  assert.deepEqual(issuerFor(c.sites[1], c.globals, 'b.example.com'), { kind: 'acme', ca: c.globals.acmeCa, email: 'global@b.test' });

  const g = await config(site('', '\tcert_issuer acme {\n\t\tdisable_http_challenge\n\t}'));
  assert.deepEqual(issuerFor(g.sites[0], g.globals, 'a.example.com'), { kind: 'acme', ca: g.globals.acmeCa, challenges: ['tls-alpn-01'] });
  const own = await config(site('\ttls {\n\t\tchallenges http-01\n\t}', '\tcert_issuer acme {\n\t\tdisable_http_challenge\n\t}'));
  assert.deepEqual(issuerFor(own.sites[0], own.globals, 'a.example.com'), { kind: 'acme', ca: own.globals.acmeCa, challenges: ['http-01'] });
});

test('contradicting or wrong tls issuer settings fail with FILE:LINE:COL', async () => {
  const cases: { tls: string; expect: string }[] = [
    { tls: '\ttls internal {\n\t\tissuer acme\n\t}', expect: 'P:3:10: tls: "tls internal" contradicts "issuer acme"' },
    { tls: '\ttls {\n\t\tca https://a.test/dir\n\t\tissuer acme https://b.test/dir\n\t}', expect: 'P:4:10: tls: the ACME directory is set both by issuer acme and outside it' },
    { tls: '\ttls a@b.test {\n\t\tissuer acme {\n\t\t\temail c@d.test\n\t\t}\n\t}', expect: 'P:3:10: tls: the email address is set both by issuer acme and outside it' },
    {
      tls: '\ttls {\n\t\tchallenges http-01\n\t\tissuer acme {\n\t\t\tdisable_http_challenge\n\t\t}\n\t}',
      expect: 'P:4:10: tls: the challenge list is set both by issuer acme and outside it',
    },
    { tls: '\ttls {\n\t\tissuer internal\n\t\teab k m\n\t}', expect: 'P:4:3: tls: eab needs the acme issuer, not internal' },
    { tls: '\ttls cert.pem key.pem {\n\t\tissuer acme {\n\t\t\tdir https://a.test/dir\n\t\t}\n\t}', expect: 'P:3:10: tls: a certificate file pair cannot be combined with issuer, ca or challenges' },
    { tls: '\ttls {\n\t\tissuer acme {\n\t\t\talt_http_port 8080\n\t\t}\n\t}', expect: 'P:4:4: unknown subdirective "alt_http_port" in issuer acme' },
    { tls: '\ttls {\n\t\tissuer acme {\n\t\t\tprofile\n\t\t}\n\t}', expect: 'P:4:4: profile: missing argument (usage: profile NAME)' },
    { tls: '\ttls {\n\t\tissuer acme {\n\t\t\temail a@b.test\n\t\t\temail c@d.test\n\t\t}\n\t}', expect: 'P:5:4: email is already set at P:4:4' },
    { tls: '\ttls {\n\t\tissuer internal {\n\t\t\tlifetime never\n\t\t}\n\t}', expect: 'P:4:13: invalid duration "never": use a number with a unit, as in 30s, 1m30s, 500ms, 2h or 1d' },
    { tls: '\ttls {\n\t\tissuer internal https://a.test/dir\n\t}', expect: 'P:3:19: issuer internal: unexpected argument "https://a.test/dir" (usage: issuer acme [DIRECTORY_URL] [{ … }] | issuer internal [{ … }])' },
    { tls: '\ttls {\n\t\tissuer zerossl KEY\n\t}', expect: 'P:3:10: issuer: unsupported issuer "zerossl" (ZeroSSL: use acme with its directory URL and eab) (use acme or internal)' },
    { tls: '\ttls {\n\t\tkey_type ed25519\n\t}', expect: 'P:3:12: key type "ed25519" is not supported yet: public ACME CAs refuse Ed25519 keys and the local CA does not issue them (use p256)' },
  ];
  const got = [];
  for (const c of cases) got.push(await errorOf(site(c.tls)));
  assert.deepEqual(got, cases.map((c) => c.expect));
});
