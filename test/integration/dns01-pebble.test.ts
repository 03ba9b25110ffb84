/**
 * DNS-01 end to end: Pebble validates against a real BIND 9 (its `-dnsserver`), into which
 * my-server writes the records with rfc2136 (TSIG-signed DNS UPDATE).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBind, type Bind } from '../helpers/bind.ts';
import { runCli, tempProxyfile } from '../helpers/cli.ts';
import { handshake, loopbackGlobals, verifiedHandshake } from '../helpers/clients.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer, type RunningServer } from '../helpers/run-server.ts';

const SECRET_ENV = 'MY_SERVER_TEST_TSIG_SECRET';

function acmeDnsGlobals(pebble: Pebble, bind: Bind, storage?: string): string {
  return `\tacme_ca ${pebble.directoryUrl}
	acme_ca_root ${pebble.caFile}
${storage === undefined ? '' : `\tstorage file ${storage}\n`}	acme_dns rfc2136 {
		key_name ${bind.keyName}
		key_alg ${bind.algorithm}
		key {env.${SECRET_ENV}}
		server ${bind.server}
	}
`;
}

describe('DNS-01 through rfc2136 into BIND, validated by Pebble', () => {
  let bind: Bind;
  let resolver: Bind;
  let pebble: Pebble;

  before(async () => {
    bind = await startBind({ zones: [{ name: 'example.test', records: ['_acme-challenge.cname CNAME target.delegated.test.'] }, { name: 'delegated.test' }] });
    // Pebble asks a resolving BIND in front of the authoritative one, as a CA asks its resolver:
    // an authoritative-only server does not follow a CNAME into another zone.
    resolver = await startBind({ zones: [], forward: { port: bind.port, zones: ['example.test', 'delegated.test'] } });
    // authzReuse 0: every order must really be validated through DNS.
    pebble = await startPebble({ dnsServer: resolver.server, authzReuse: 0, nonceReject: 0 });
  });
  after(async () => {
    await pebble?.stop();
    await resolver?.stop();
    await bind?.stop();
  });

  test('a *.example.test site gets a Pebble certificate through DNS-01 and serves two subdomains; the records are gone afterwards', { timeout: 120_000 }, async (t) => {
    const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    const server: RunningServer = await startServer(
      (env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort }, acmeDnsGlobals(pebble, bind))}
*.example.test, example.test {
	respond "wild {host}"
}
`,
      { env: { [SECRET_ENV]: bind.secret } },
    );
    t.after(() => server.close());
    const root = await pebble.rootPem();
    await verifiedHandshake(httpsPort, 'a.example.test', root, 60_000);
    await verifiedHandshake(httpsPort, 'example.test', root, 60_000);
    const a = await handshake(httpsPort, 'a.example.test', root);
    const b = await handshake(httpsPort, 'b.example.test', root);
    assert.equal(a.authorized, true, a.error);
    assert.equal(b.authorized, true, b.error);
    assert.equal(a.subjectAltName, 'DNS:*.example.test');
    assert.equal(b.subjectAltName, 'DNS:*.example.test');
    assert.equal((await handshake(httpsPort, 'example.test', root)).subjectAltName, 'DNS:example.test');
    assert.match(server.output(), /DNS-01 record presented/);
    // The secret is in the environment only; it never reaches the log.
    assert.ok(!server.output().includes(bind.secret), 'the TSIG secret appears in the log');
    assert.deepEqual(await bind.txt('_acme-challenge.example.test'), []);
    assert.equal(pebble.countOrders() >= 2, true);
  });

  test('certs obtain of a wildcard and its base name in one order, and of a CNAME-delegated name', { timeout: 120_000 }, async (t) => {
    const files = await tempProxyfile('');
    t.after(() => files.remove());
    const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    await writeFile(files.file, `{
	http_port ${httpPort}
	https_port ${httpsPort}
${acmeDnsGlobals(pebble, bind, join(files.dir, 'data'))}}
`);
    const env = { ...process.env, [SECRET_ENV]: bind.secret, MY_SERVER_LOG_LEVEL: 'info' };
    const both = await runCli(['certs', 'obtain', '*.both.example.test', 'both.example.test', '--config', files.file], { env, timeoutMs: 90_000 });
    assert.equal(both.code, 0, `${both.stdout}\n${both.stderr}`);
    const list = await runCli(['certs', 'list', '--json', '--config', files.file], { env });
    assert.match(list.stdout, /\*\.both\.example\.test/);
    assert.deepEqual(await bind.txt('_acme-challenge.both.example.test'), []);

    const delegated = await runCli(['certs', 'obtain', 'cname.example.test', '--config', files.file], { env, timeoutMs: 90_000 });
    assert.equal(delegated.code, 0, `${delegated.stdout}\n${delegated.stderr}`);
    assert.match(delegated.stdout + delegated.stderr, /target\.delegated\.test/);
    assert.deepEqual(await bind.txt('target.delegated.test'), []);
  });

  test('a wrong TSIG key fails with the server\'s rcode named, and no retry storm of orders', { timeout: 120_000 }, async (t) => {
    const files = await tempProxyfile('');
    t.after(() => files.remove());
    const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    await writeFile(files.file, `{
	http_port ${httpPort}
	https_port ${httpsPort}
${acmeDnsGlobals(pebble, bind, join(files.dir, 'data'))}}
`);
    const before = pebble.countOrders();
    const env = { ...process.env, [SECRET_ENV]: Buffer.alloc(32, 1).toString('base64'), MY_SERVER_LOG_LEVEL: 'info' };
    const res = await runCli(['certs', 'obtain', 'badkey.example.test', '--config', files.file], { env, timeoutMs: 90_000 });
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout + res.stderr, /NOTAUTH \(TSIG error BADSIG\)/);
    // One challenge type enabled (dns-01), so the flow makes one attempt: one order.
    assert.equal(pebble.countOrders() - before, 1);
  });
});
