import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../../src/metrics/metrics.ts';
import type { CertificateStatus } from '../../../src/certs/lifecycle.ts';
import { parseExposition, sampleValue } from './prom-text.ts';

function status(name: string, notAfter: string | undefined, failures = 0, extra: Partial<CertificateStatus> = {}): CertificateStatus {
  return {
    name,
    names: [name],
    issuer: 'https://ca.test/dir',
    issuerName: 'Test CA',
    consecutiveFailures: failures,
    ...(notAfter !== undefined ? { notBefore: '2026-01-01T00:00:00.000Z', notAfter, renewAt: '2026-02-01T00:00:00.000Z' } : {}),
    ...(failures > 0 ? { lastError: { at: '2026-01-02T00:00:00.000Z', type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many', code: 'MS_ERR_ACME_PROBLEM' } } : {}),
    ...extra,
  };
}

test('per-certificate series: one set per name up to the limit, failing names first, the rest aggregated as name="other"', async () => {
  let list: CertificateStatus[] = [
    status('a.test', '2026-03-10T00:00:00.000Z'),
    status('b.test', '2026-03-05T00:00:00.000Z'),
    status('c.test', '2026-03-20T00:00:00.000Z'),
    status('z.test', undefined, 3),
    status('p.test', undefined, 1, { parked: true }),
  ];
  const m = new Metrics({ processMetrics: false, certificates: () => list });
  try {
    m.configure({ certificateSeriesLimit: 3 });
    let exp = parseExposition(await m.text());
    // Failing ones first (p, z), then by name: a. b and c are aggregated.
    assert.equal(sampleValue(exp, 'my_server_certificate_consecutive_failures', { name: 'z.test' }), 3);
    assert.equal(sampleValue(exp, 'my_server_certificate_consecutive_failures', { name: 'p.test' }), 1);
    assert.equal(sampleValue(exp, 'my_server_certificate_not_after_timestamp_seconds', { name: 'a.test' }), Date.parse('2026-03-10T00:00:00.000Z') / 1000);
    assert.equal(sampleValue(exp, 'my_server_certificate_not_after_timestamp_seconds', { name: 'b.test' }), undefined);
    assert.equal(sampleValue(exp, 'my_server_certificate_not_after_timestamp_seconds', { name: 'other' }), Date.parse('2026-03-05T00:00:00.000Z') / 1000, 'the earliest of the rest');
    assert.equal(sampleValue(exp, 'my_server_certificate_consecutive_failures', { name: 'other' }), 0);
    assert.equal(sampleValue(exp, 'my_server_certificate_last_error_timestamp_seconds', { name: 'z.test', type: 'rateLimited' }), Date.parse('2026-01-02T00:00:00.000Z') / 1000);
    assert.equal(sampleValue(exp, 'my_server_certificate_info', { name: 'a.test', ca: 'https://ca.test/dir', issuer: 'Test CA', profile: '' }), 1);
    assert.equal(sampleValue(exp, 'my_server_certificates', { state: 'valid' }), 3);
    assert.equal(sampleValue(exp, 'my_server_certificates', { state: 'failing' }), 1);
    assert.equal(sampleValue(exp, 'my_server_certificates', { state: 'parked' }), 1);
    const named = new Set(exp.samples.filter((s) => s.name === 'my_server_certificate_consecutive_failures').map((s) => s.labels['name']));
    assert.deepEqual([...named].sort(), ['a.test', 'other', 'p.test', 'z.test']);

    // A name gone from the source is gone from the next scrape; under the limit nothing is aggregated.
    list = list.filter((c) => c.name !== 'c.test' && c.name !== 'b.test');
    await new Promise((resolve) => setImmediate(resolve));
    exp = parseExposition(await m.text());
    assert.equal(sampleValue(exp, 'my_server_certificate_consecutive_failures', { name: 'other' }), undefined);
    assert.equal(sampleValue(exp, 'my_server_certificates', { state: 'valid' }), 1);
  } finally {
    m.close();
  }
});
