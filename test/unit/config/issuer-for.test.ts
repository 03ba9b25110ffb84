import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issuerFor, siteFor, type IssuerChoice } from '../../../src/config/adapt.ts';
import { parseConfig } from '../../../src/config/index.ts';

const CA = 'https://acme-v02.api.letsencrypt.org/directory';
const OTHER = 'https://ca.example.net/dir';

async function config(text: string): Promise<Awaited<ReturnType<typeof parseConfig>>> {
  return parseConfig(text, { filename: '/etc/my-server/Proxyfile', env: {} });
}

const SITES = `{
	email ops@example.com
	on_demand_tls {
		ask http://127.0.0.1:9/ask
	}
}
auto.example.com, localhost, 10.0.0.1 {
	respond "a"
}
*.wild.example.com {
	tls {
		dns exec /usr/local/bin/dns-hook
	}
}
internal.example.com {
	tls internal
}
issuer-internal.example.com {
	tls {
		issuer internal
	}
}
ca.example.com {
	tls {
		ca ${OTHER}
		challenges http-01
	}
}
email.example.com {
	tls certs@example.com
}
files.example.com {
	tls /etc/a.pem /etc/a.key
}
printer.local {
	tls {
		issuer acme
	}
}
https:// {
	tls {
		on_demand
	}
}
`;

test('issuerFor: the site\'s tls setting first, then the name; one answer for run and certs', async () => {
  const c = await config(SITES);
  const acme = (extra: Partial<Extract<IssuerChoice, { kind: 'acme' }>> = {}): IssuerChoice => ({ kind: 'acme', ca: CA, email: 'ops@example.com', ...extra });
  const cases: [string, IssuerChoice | undefined][] = [
    ['auto.example.com', acme()],
    ['localhost', { kind: 'internal' }],
    ['10.0.0.1', { kind: 'internal' }],
    ['a.wild.example.com', acme({ challenges: ['dns-01'], dns: { provider: { provider: 'exec', program: '/usr/local/bin/dns-hook', args: [], pos: { file: '/etc/my-server/Proxyfile', line: 12, col: 7 } } } })],
    ['internal.example.com', { kind: 'internal' }],
    ['issuer-internal.example.com', { kind: 'internal' }],
    ['ca.example.com', acme({ ca: OTHER, challenges: ['http-01'] })],
    ['email.example.com', acme({ email: 'certs@example.com' })],
    ['files.example.com', undefined],
    ['printer.local', acme()],
    // No exact or wildcard site: the catch-all on-demand site, auto.
    ['anything.example.org', acme()],
    ['box.internal', { kind: 'internal' }],
  ];
  for (const [name, expected] of cases) assert.deepEqual(issuerFor(siteFor(c, name), c.globals, name), expected, name);
});

test('siteFor: exact, then a wildcard one label up, then a catch-all; HTTPS addresses only', async () => {
  const c = await config('*.example.com {\n\ttls internal\n}\nexample.com {\n}\nhttp://plain.example.org {\n}\n');
  assert.equal(siteFor(c, 'example.com')?.addresses[0]?.host, 'example.com');
  assert.equal(siteFor(c, 'a.example.com')?.addresses[0]?.host, '*.example.com');
  assert.equal(siteFor(c, 'a.b.example.com'), undefined, 'a wildcard covers one label');
  assert.equal(siteFor(c, 'plain.example.org'), undefined, 'an http:// site has no certificate');
});

test('local_certs sends every site and every name without a site to the local CA; --issuer overrides', async () => {
  const c = await config('{\n\tlocal_certs\n}\npublic.example.com {\n}\n');
  assert.deepEqual(issuerFor(siteFor(c, 'public.example.com'), c.globals, 'public.example.com'), { kind: 'internal' });
  assert.deepEqual(issuerFor(undefined, c.globals, 'other.example.com'), { kind: 'internal' });
  assert.deepEqual(issuerFor(undefined, c.globals, 'other.example.com', 'acme'), { kind: 'acme', ca: CA });
  const plain = await config('a.example.com {\n}\n');
  assert.deepEqual(issuerFor(undefined, plain.globals, 'localhost', 'acme'), { kind: 'acme', ca: CA });
  assert.deepEqual(issuerFor(siteFor(plain, 'a.example.com'), plain.globals, 'a.example.com', 'internal'), { kind: 'internal' });
});

test('IP addresses: a public one goes to ACME (RFC 8738), loopback, private, shared, link-local and unique-local ones to the local CA', async () => {
  const c = await config('203.0.113.5, 10.0.0.1, 127.0.0.1, 100.64.0.9, [2001:db8::1], [fd00::5], [fe80::1] {\n\trespond "ip"\n}\n');
  const kind = (name: string): string | undefined => issuerFor(siteFor(c, name), c.globals, name)?.kind;
  assert.equal(kind('203.0.113.5'), 'acme');
  assert.equal(kind('2001:db8::1'), 'acme');
  for (const local of ['10.0.0.1', '127.0.0.1', '100.64.0.9', 'fd00::5', 'fe80::1']) assert.equal(kind(local), 'internal', local);
});
