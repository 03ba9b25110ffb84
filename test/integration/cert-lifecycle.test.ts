/**
 * Per-certificate lifecycle as an operator reads it (issue 14): a name Pebble issues for and one it
 * refuses (its domain blocklist answers rejectedIdentifier), seen through `curl /metrics`,
 * `GET /certificates` and `my-server certs list`; then the per-certificate series cap, lowered by
 * a reload, aggregating the rest under name="other".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { pebbleGlobals, startPebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer, type ServerEnv } from '../helpers/run-server.ts';

const execFileP = promisify(execFile);

interface Status {
  name: string;
  names: string[];
  issuer: string;
  issuerName: string;
  notBefore?: string;
  notAfter?: string;
  renewAt?: string;
  nextAttempt?: string;
  lastCheck?: string;
  consecutiveFailures: number;
  parked?: boolean;
  lastError?: { at: string; type?: string; detail: string; code?: string };
}

async function curl(url: string): Promise<string> {
  const { stdout } = await execFileP('curl', ['-sS', '--fail', '--max-time', '10', url]);
  return stdout;
}

/** The sample lines of `name` whose labels include every one of `labels`. */
function samples(text: string, name: string, labels: Record<string, string>): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
}

test('a certificate issued and a name the CA refuses: /metrics, GET /certificates and certs list show their lifecycle; the cap aggregates', { timeout: 180_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const pebble = await startPebble({ httpPort, tlsPort: httpsPort, domainBlocklist: ['blocked.test'] });
  t.after(() => pebble.stop());
  const proxyfile = (env: ServerEnv, limit: number): string =>
    `${pebbleGlobals(pebble, { http: httpPort, https: httpsPort, storage: env.storage, admin: `127.0.0.1:${env.adminPort}` }, `\tmetrics {\n\t\tper_certificate_limit ${limit}\n\t}\n`)}
good.test {
	respond "good"
}

blocked.test {
	respond "blocked"
}
`;
  const server = await startServer((env) => proxyfile(env, 100));
  t.after(() => server.close());

  const list = await eventually('good.test issued and blocked.test failed in /certificates', 90_000, async () => {
    const entries = JSON.parse(await curl(`${server.adminUrl}/certificates`)) as Status[];
    const good = entries.find((e) => e.name === 'good.test');
    const blocked = entries.find((e) => e.name === 'blocked.test');
    return good?.notAfter !== undefined && blocked?.lastError !== undefined ? { good, blocked } : undefined;
  }, 250);

  const { good, blocked } = list;
  assert.equal(good.issuer, pebble.directoryUrl, 'the CA is the directory URL');
  assert.match(good.issuerName, /Pebble/i, 'the issuing certificate is named');
  assert.deepEqual(good.names, ['good.test']);
  assert.ok(good.notBefore !== undefined && good.renewAt !== undefined && good.nextAttempt !== undefined && good.lastCheck !== undefined, JSON.stringify(good));
  assert.ok(Date.parse(good.renewAt) > Date.parse(good.notBefore) && Date.parse(good.renewAt) < Date.parse(good.notAfter!), 'renews inside the lifetime');
  assert.equal(good.consecutiveFailures, 0);
  assert.equal(good.lastError, undefined);

  assert.equal(blocked.lastError?.type, 'urn:ietf:params:acme:error:rejectedIdentifier', JSON.stringify(blocked));
  assert.match(blocked.lastError.detail, /blocked\.test/, 'the CA\'s own detail');
  assert.equal(blocked.consecutiveFailures, 1);
  assert.equal(blocked.parked, true);
  assert.equal(blocked.notAfter, undefined, 'no certificate held');
  assert.ok(blocked.nextAttempt !== undefined && Date.parse(blocked.nextAttempt) > Date.parse(blocked.lastError.at), 'a retry is scheduled after the failure');
  assert.doesNotMatch(JSON.stringify([good, blocked]), /PRIVATE KEY/);

  // What `curl /metrics` shows, per certificate.
  const metrics = await curl(`${server.adminUrl}/metrics`);
  const notAfter = samples(metrics, 'my_server_certificate_not_after_timestamp_seconds', { name: 'good.test' });
  assert.deepEqual(notAfter, [Date.parse(good.notAfter!) / 1000]);
  assert.deepEqual(samples(metrics, 'my_server_certificate_renewal_timestamp_seconds', { name: 'good.test' }), [Date.parse(good.renewAt) / 1000]);
  assert.equal(samples(metrics, 'my_server_certificate_info', { name: 'good.test', ca: pebble.directoryUrl }).length, 1, metrics);
  assert.deepEqual(samples(metrics, 'my_server_certificate_consecutive_failures', { name: 'blocked.test' }), [1]);
  assert.deepEqual(samples(metrics, 'my_server_certificate_consecutive_failures', { name: 'good.test' }), [0]);
  assert.equal(samples(metrics, 'my_server_certificate_last_error_timestamp_seconds', { name: 'blocked.test', type: 'rejectedIdentifier' }).length, 1);
  assert.equal(samples(metrics, 'my_server_certificate_next_attempt_timestamp_seconds', { name: 'blocked.test' }).length, 1);
  assert.deepEqual(samples(metrics, 'my_server_certificates', { state: 'valid' }), [1]);
  assert.deepEqual(samples(metrics, 'my_server_certificates', { state: 'parked' }), [1]);
  assert.deepEqual(samples(metrics, 'my_server_certificate_consecutive_failures', { name: 'other' }), [], 'under the cap nothing is aggregated');

  // `certs list`, another process reading the same storage.
  const table = await runCli(['certs', 'list', '--config', server.file]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^NAMES\s+ISSUER\s+NOT AFTER\s+RENEW AT\s+NEXT ATTEMPT\s+FAILURES\s+STORAGE KEY/m);
  assert.match(table.stdout, /^good\.test\s+.*\s0\s+certificates\//m);
  assert.match(table.stdout, /^LAST ERROR\s+blocked\.test\s+at \S+\s+urn:ietf:params:acme:error:rejectedIdentifier: .*blocked\.test.*\(1 failure in a row\)$/m);
  const json = await runCli(['certs', 'list', '--json', '--config', server.file]);
  assert.equal(json.code, 0, json.stderr);
  const listed = JSON.parse(json.stdout) as Status[];
  const listedBlocked = listed.find((e) => e.name === 'blocked.test');
  assert.equal(listedBlocked?.consecutiveFailures, 1);
  assert.equal(listedBlocked.lastError?.type, 'urn:ietf:params:acme:error:rejectedIdentifier');
  assert.equal(listedBlocked.lastError.detail, blocked.lastError.detail);
  const listedGood = listed.find((e) => e.name === 'good.test');
  assert.equal(listedGood?.notAfter, good.notAfter);
  assert.equal(listedGood?.renewAt, good.renewAt);

  // The cap, lowered by a reload: the failing name keeps its series, the other is aggregated.
  const res = await fetch(`${server.adminUrl}/load`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/caddyfile' },
    body: proxyfile(server, 1),
  });
  assert.equal(res.status, 200, await res.text());
  const capped = await curl(`${server.adminUrl}/metrics`);
  // A reload lifts the park, so blocked.test may have failed once more by now.
  const failures = samples(capped, 'my_server_certificate_consecutive_failures', { name: 'blocked.test' });
  assert.ok(failures.length === 1 && failures[0]! >= 1, capped);
  assert.deepEqual(samples(capped, 'my_server_certificate_not_after_timestamp_seconds', { name: 'good.test' }), [], 'past the cap: no series of its own');
  assert.deepEqual(samples(capped, 'my_server_certificate_not_after_timestamp_seconds', { name: 'other' }), notAfter, 'aggregated: the earliest notAfter');
  assert.deepEqual(samples(capped, 'my_server_certificate_consecutive_failures', { name: 'other' }), [0]);
  assert.deepEqual(samples(capped, 'my_server_certificates', { state: 'valid' }), [1], 'the state counts cover every name');
});

test('an unreachable CA: the network failure with its code and detail in /certificates, certs list and /metrics', { timeout: 120_000 }, async (t) => {
  // A port nothing listens on: the directory request is refused at once.
  const [httpPort, httpsPort, deadPort] = (await freePorts(3)) as [number, number, number];
  const directory = `https://127.0.0.1:${deadPort}/dir`;
  const server = await startServer((env) => `{
	acme_ca ${directory}
	email ops@example.test
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	storage file ${env.storage}
	admin 127.0.0.1:${env.adminPort}
}

down.test {
	respond "down"
}
`);
  t.after(() => server.close());
  const down = await eventually('down.test failed in /certificates', 60_000, async () => {
    const entries = JSON.parse(await curl(`${server.adminUrl}/certificates`)) as Status[];
    return entries.find((e) => e.name === 'down.test' && e.lastError !== undefined);
  }, 250);
  assert.equal(down.issuer, directory);
  assert.equal(down.lastError?.type, undefined, 'no CA problem document: the CA never answered');
  assert.equal(down.lastError?.code, 'MS_ERR_ACME_NETWORK');
  assert.match(down.lastError?.detail ?? '', /ECONNREFUSED/);
  assert.equal(down.consecutiveFailures, 1);
  assert.equal(down.parked, undefined);
  const metrics = await curl(`${server.adminUrl}/metrics`);
  assert.equal(samples(metrics, 'my_server_certificate_last_error_timestamp_seconds', { name: 'down.test', type: 'network' }).length, 1, metrics);
  assert.deepEqual(samples(metrics, 'my_server_certificates', { state: 'failing' }), [1]);

  const table = await runCli(['certs', 'list', '--config', server.file]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^down\.test\s+https:\/\/127\.0\.0\.1:\d+\/dir\s+-\s+-\s+\S+\s+1\s+-$/m, table.stdout);
  assert.match(table.stdout, /^LAST ERROR\s+down\.test\s+at \S+\s+MS_ERR_ACME_NETWORK: .*ECONNREFUSED.*\(1 failure in a row\)$/m);
});
