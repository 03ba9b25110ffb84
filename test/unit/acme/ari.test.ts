import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { certIdFromCertificate, certIdFromParts, chooseRenewalTime, renewalInfoCheckDelay, renewalInfoRetryDelay } from '../../../src/acme/ari.ts';
import { AcmeClient } from '../../../src/acme/client.ts';
import { generateAccountKey } from '../../../src/acme/jws.ts';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import { MyServerError } from '../../../src/errors.ts';
import { startFakeCa } from './fake-ca.ts';
import { RFC9773_EXAMPLE_CERT } from './fixtures.ts';

test('the CertID of RFC 9773 example certificate is the one the RFC gives', () => {
  const der = new X509Certificate(RFC9773_EXAMPLE_CERT).raw;
  assert.equal(certIdFromCertificate(der), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
});

test('certIdFromParts keeps the serial leading 00 and base64url-encodes both halves without padding', () => {
  const aki = Buffer.from('69885b6b87464041e1b37b847ba0ae2cde01c8d4', 'hex');
  assert.equal(certIdFromParts(aki, Buffer.from('0087654321', 'hex')), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  assert.equal(certIdFromParts(aki, Buffer.from('7f', 'hex')), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.fw');
  assert.throws(() => certIdFromParts(new Uint8Array(0), Buffer.from('01', 'hex')), { code: 'MS_ERR_X509' });
});

test('a certificate without an Authority Key Identifier has no CertID (MS_ERR_X509)', () => {
  const der = Buffer.from(new X509Certificate(RFC9773_EXAMPLE_CERT).raw);
  // Turn the extension's OID 2.5.29.35 into 2.5.29.36 (policyConstraints).
  const at = der.indexOf(Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]));
  assert.ok(at > 0);
  der[at + 4] = 0x24;
  assert.throws(() => certIdFromCertificate(der), { code: 'MS_ERR_X509' });
  assert.throws(() => certIdFromCertificate(Buffer.from([0x30, 0x80])), { code: 'MS_ERR_X509' });
});

test('chooseRenewalTime is uniform in the window: random 0 is the start, random just below 1 is before the end', () => {
  const window = { start: new Date('2025-01-02T04:00:00Z'), end: new Date('2025-01-03T04:00:00Z') };
  const cases: [number, string][] = [
    [0, '2025-01-02T04:00:00.000Z'],
    [0.25, '2025-01-02T10:00:00.000Z'],
    [0.5, '2025-01-02T16:00:00.000Z'],
    [0.9999999999, '2025-01-03T03:59:59.999Z'],
  ];
  for (const [r, want] of cases) assert.equal(chooseRenewalTime(window, () => r).toISOString(), want, String(r));
  const t = chooseRenewalTime(window).getTime();
  assert.ok(t >= window.start.getTime() && t < window.end.getTime());
});

test('renewalInfo GETs renewalInfo/<certID> and returns the window, explanation and Retry-After', async () => {
  const ca = await startFakeCa();
  ca.on('/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', () => ({
    headers: { 'retry-after': '21600' },
    body: {
      suggestedWindow: { start: '2025-01-02T04:00:00Z', end: '2025-01-03T04:00:00Z' },
      explanationURL: 'https://acme.example.com/docs/ari',
    },
  }));
  ca.on('/renewal-info/bad.window', () => ({
    body: { suggestedWindow: { start: '2025-01-03T04:00:00Z', end: '2025-01-02T04:00:00Z' } },
  }));
  const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateAccountKey() });
  try {
    const info = await client.renewalInfo('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    assert.deepEqual(info, {
      suggestedWindow: { start: new Date('2025-01-02T04:00:00Z'), end: new Date('2025-01-03T04:00:00Z') },
      explanationURL: 'https://acme.example.com/docs/ari',
      retryAfterMs: 21_600_000,
    });
    const [req] = ca.to('/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    assert.equal(req?.method, 'GET'); // RFC 9773 §4.1: a plain GET, not POST-as-GET
    await assert.rejects(client.renewalInfo('bad.window'), { code: 'MS_ERR_ACME_PROTOCOL' });
  } finally {
    client.close();
    await ca.close();
  }
});

test('renewalInfo is undefined when the directory does not offer it', async () => {
  const ca = await startFakeCa({ directory: { renewalInfo: undefined } });
  const client = new AcmeClient({ directoryUrl: ca.directoryUrl, accountKey: await generateAccountKey() });
  try {
    assert.equal(await client.renewalInfo('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE'), undefined);
    assert.equal(ca.requests.filter((r) => r.path.startsWith('/renewal-info')).length, 0);
  } finally {
    client.close();
    await ca.close();
  }
});

const MIN = 60_000;
const HOUR = 3600_000;

test('renewalInfoCheckDelay follows Retry-After within one minute and one day, six hours without one', () => {
  const cases: [number | undefined, number][] = [
    [undefined, 6 * HOUR],
    [Number.NaN, 6 * HOUR],
    [0, MIN],
    [10_000, MIN],
    [MIN, MIN],
    [2 * HOUR, 2 * HOUR],
    [24 * HOUR, 24 * HOUR],
    [7 * 24 * HOUR, 24 * HOUR],
  ];
  for (const [retryAfter, want] of cases) assert.equal(renewalInfoCheckDelay(retryAfter), want, String(retryAfter));
});

test('renewalInfoRetryDelay backs off briefly on temporary errors, waits six hours on long-term ones', () => {
  const problem = (status: number, retryAfter?: number): AcmeProblem =>
    new AcmeProblem({ type: 'urn:ietf:params:acme:error:serverInternal', detail: 'x', status, ...(retryAfter === undefined ? {} : { retryAfter }) });
  const network = (code?: string): MyServerError =>
    new MyServerError('MS_ERR_ACME_NETWORK', 'fetching renewal info: GET https://ca/renewal-info/x', { cause: Object.assign(new Error('fetch failed'), code ? { cause: Object.assign(new Error(code), { code }) } : {}) });
  const cases: { name: string; err: unknown; failures: number; random: number; want: number }[] = [
    { name: '503, first failure, least jitter', err: problem(503), failures: 1, random: 0, want: MIN },
    { name: '503, first failure, most jitter', err: problem(503), failures: 1, random: 0.999999, want: 2 * MIN },
    { name: '503, third failure', err: problem(503), failures: 3, random: 0, want: 4 * MIN },
    { name: '503, tries spent: long-term', err: problem(503), failures: 4, random: 0, want: 6 * HOUR },
    { name: '503 asking for 30 min', err: problem(503, 30 * MIN), failures: 1, random: 0, want: 30 * MIN },
    { name: '503 asking for 3 days', err: problem(503, 72 * HOUR), failures: 1, random: 0, want: 24 * HOUR },
    { name: '404 problem', err: problem(404), failures: 1, random: 0, want: 6 * HOUR },
    { name: 'timeout', err: network(), failures: 1, random: 0, want: MIN },
    { name: 'connection refused', err: network('ECONNREFUSED'), failures: 1, random: 0, want: 6 * HOUR },
    { name: 'no such host', err: network('ENOTFOUND'), failures: 2, random: 0, want: 6 * HOUR },
    { name: 'invalid window', err: new MyServerError('MS_ERR_ACME_PROTOCOL', 'invalid suggestedWindow'), failures: 1, random: 0, want: 6 * HOUR },
  ];
  for (const c of cases) assert.equal(renewalInfoRetryDelay(c.err, c.failures, () => c.random), c.want, c.name);
});
