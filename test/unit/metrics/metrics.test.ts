import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { Metrics, acmeErrorType } from '../../../src/metrics/metrics.ts';
import { hasSubscribers, publish } from '../../../src/diagnostics.ts';
import { publishAcmeEvent } from '../../../src/acme/events.ts';
import { AcmeProblem } from '../../../src/acme/problem.ts';
import { MyServerError } from '../../../src/errors.ts';
import { parseExposition, sampleValue, type Exposition } from './prom-text.ts';

const ids = [{ type: 'dns' as const, value: 'a.example' }];

async function withMetrics(
  fn: (m: Metrics, scrape: () => Promise<Exposition>) => Promise<void>,
  options: ConstructorParameters<typeof Metrics>[0] = { processMetrics: false },
): Promise<void> {
  const m = new Metrics(options);
  m.subscribe();
  try {
    await fn(m, async () => parseExposition(await m.text()));
  } finally {
    m.close();
  }
}

function acmeError(error: Error): void {
  publishAcmeEvent({ type: 'error', identifiers: ids, attempt: 1, error, willRetry: false });
}

test('the exposition declares every metric of the spec with its type, and process metrics', async () => {
  await withMetrics(
    async (m, scrape) => {
      assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
      const exp = await scrape();
      const want: [string, string][] = [
        ['my_server_requests_total', 'counter'],
        ['my_server_request_duration_seconds', 'histogram'],
        ['my_server_upstream_healthy', 'gauge'],
        ['my_server_tls_handshakes_total', 'counter'],
        ['my_server_certificates_obtained_total', 'counter'],
        ['my_server_certificate_expiry_timestamp_seconds', 'gauge'],
        ['my_server_acme_errors_total', 'counter'],
        ['my_server_acme_certificates_total', 'counter'],
        ['process_cpu_user_seconds_total', 'counter'],
        ['nodejs_heap_size_used_bytes', 'gauge'],
      ];
      for (const [name, type] of want) assert.equal(exp.types.get(name), type, name);
    },
    { processMetrics: true },
  );
});

test('a request event counts by site, method and code, and observes its duration in seconds', async () => {
  await withMetrics(async (_m, scrape) => {
    publish('my-server:http:request', { site: 'example.com', method: 'GET', status: 200, durationMs: 30 });
    publish('my-server:http:request', { site: 'example.com', method: 'GET', status: 200, durationMs: 70 });
    publish('my-server:http:request', { site: 'example.com', method: 'BREW', status: 502, durationMs: 2 });
    const exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_requests_total', { site: 'example.com', method: 'GET', code: '200' }), 2);
    assert.equal(sampleValue(exp, 'my_server_requests_total', { site: 'example.com', method: 'OTHER', code: '502' }), 1);
    assert.equal(sampleValue(exp, 'my_server_request_duration_seconds_count', { site: 'example.com' }), 3);
    const sum = sampleValue(exp, 'my_server_request_duration_seconds_sum', { site: 'example.com' }) ?? NaN;
    assert.ok(Math.abs(sum - 0.102) < 1e-9, `sum ${sum}`);
    assert.equal(sampleValue(exp, 'my_server_request_duration_seconds_bucket', { site: 'example.com', le: '0.05' }), 2);
  });
});

test('site values past maxLabelValues count as "other" instead of new series', async () => {
  await withMetrics(
    async (_m, scrape) => {
      for (const site of ['a', 'b', 'c', 'd', 'a']) publish('my-server:http:request', { site, method: 'GET', status: 200, durationMs: 1 });
      const exp = await scrape();
      const sites = exp.samples.filter((s) => s.name === 'my_server_requests_total').map((s) => s.labels['site']);
      assert.deepEqual(sites.sort(), ['a', 'b', 'other']);
      assert.equal(sampleValue(exp, 'my_server_requests_total', { site: 'a', method: 'GET', code: '200' }), 2);
      assert.equal(sampleValue(exp, 'my_server_requests_total', { site: 'other', method: 'GET', code: '200' }), 2);
    },
    { processMetrics: false, maxLabelValues: 2 },
  );
});

test('handshakes count by result and known protocol; an unknown protocol is "unknown"', async () => {
  await withMetrics(async (_m, scrape) => {
    publish('my-server:tls:handshake', { result: 'ok', servername: 'a.example', protocol: 'TLSv1.3' });
    publish('my-server:tls:handshake', { result: 'ok', protocol: 'TLSv1.3' });
    publish('my-server:tls:handshake', { result: 'error', servername: 'x.example' });
    publish('my-server:tls:handshake', { result: 'error', protocol: 'SSLv9' });
    const exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_tls_handshakes_total', { result: 'ok', protocol: 'TLSv1.3' }), 2);
    assert.equal(sampleValue(exp, 'my_server_tls_handshakes_total', { result: 'error', protocol: 'unknown' }), 2);
    assert.ok(!exp.samples.some((s) => Object.values(s.labels).includes('a.example')), 'servername is never a label');
  });
});

test('obtained certificates count by issuer, ACME orders by CA host, and loaded ones set their expiry', async () => {
  await withMetrics(async (_m, scrape) => {
    publish('my-server:cert:obtained', { names: ['a.example'], issuer: 'https://acme.test/dir' });
    publish('my-server:cert:obtained', { names: ['b.example'], issuer: 'local' });
    publishAcmeEvent({
      type: 'certificate-obtained',
      orderUrl: 'https://ca.test:14000/order/1',
      certificateUrl: 'https://ca.test:14000/cert/1',
      identifiers: ids,
    });
    const notAfter = new Date('2031-02-03T04:05:06Z');
    publish('my-server:cert:loaded', { name: 'a.example', notAfter });
    const exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_certificates_obtained_total', { issuer: 'https://acme.test/dir' }), 1);
    assert.equal(sampleValue(exp, 'my_server_certificates_obtained_total', { issuer: 'local' }), 1);
    assert.equal(sampleValue(exp, 'my_server_acme_certificates_total', { ca: 'ca.test:14000' }), 1);
    assert.equal(sampleValue(exp, 'my_server_certificate_expiry_timestamp_seconds', { name: 'a.example' }), notAfter.getTime() / 1000);
  });
});

test('ACME errors count by problem short name, even when wrapped, or by failure kind', async () => {
  await withMetrics(async (_m, scrape) => {
    const rateLimited = new AcmeProblem({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'slow down', status: 429 });
    acmeError(rateLimited);
    acmeError(new MyServerError('MS_ERR_CHALLENGE_FAILED', 'validating', { cause: rateLimited }));
    acmeError(new MyServerError('MS_ERR_ACME_NETWORK', 'fetching nonce', { cause: new Error('ECONNREFUSED') }));
    const exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_acme_errors_total', { type: 'rateLimited' }), 2);
    assert.equal(sampleValue(exp, 'my_server_acme_errors_total', { type: 'network' }), 1);
  });
});

test('acmeErrorType keeps the label bounded', () => {
  const problem = (type: string): AcmeProblem => new AcmeProblem({ type, detail: '' });
  const table: [unknown, string][] = [
    [problem('urn:ietf:params:acme:error:badNonce'), 'badNonce'],
    [problem('urn:ietf:params:acme:error:alreadyReplaced'), 'alreadyReplaced'],
    [problem('urn:ietf:params:acme:error:madeUpByTheCa'), 'other'],
    [problem('about:blank'), 'other'],
    [new MyServerError('MS_ERR_CHALLENGE_FAILED', 'x', { cause: new MyServerError('MS_ERR_ACME_TIMEOUT', 'y') }), 'timeout'],
    [new MyServerError('MS_ERR_ACME_PROTOCOL', 'no nonce'), 'protocol'],
    [new MyServerError('MS_ERR_CHALLENGE_FAILED', 'presenting'), 'challenge'],
    [new Error('plain'), 'other'],
    ['not an error', 'other'],
  ];
  for (const [err, want] of table) assert.equal(acmeErrorType(err), want, String(err));
});

test('upstream events set the health gauge; configure seeds new upstreams at 1 and drops removed ones', async () => {
  await withMetrics(async (m, scrape) => {
    m.configure({ upstreams: ['10.0.0.1:80', '10.0.0.2:80'] });
    publish('my-server:upstream:unhealthy', { upstream: '10.0.0.2:80', reason: 'status 503' });
    let exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_upstream_healthy', { upstream: '10.0.0.1:80' }), 1);
    assert.equal(sampleValue(exp, 'my_server_upstream_healthy', { upstream: '10.0.0.2:80' }), 0);

    // A reload keeps 10.0.0.2 (still unhealthy: configure must not reset a known verdict) and drops 10.0.0.1.
    m.configure({ upstreams: ['10.0.0.2:80', '10.0.0.3:80'] });
    exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_upstream_healthy', { upstream: '10.0.0.1:80' }), undefined);
    assert.equal(sampleValue(exp, 'my_server_upstream_healthy', { upstream: '10.0.0.2:80' }), 0);
    assert.equal(sampleValue(exp, 'my_server_upstream_healthy', { upstream: '10.0.0.3:80' }), 1);

    publish('my-server:upstream:healthy', { upstream: '10.0.0.2:80', reason: 'status 200' });
    exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_upstream_healthy', { upstream: '10.0.0.2:80' }), 1);
  });
});

test('configure drops expiry series of certificates no longer loaded', async () => {
  await withMetrics(async (m, scrape) => {
    publish('my-server:cert:loaded', { name: 'a.example', notAfter: new Date(2_000_000_000_000) });
    publish('my-server:cert:loaded', { name: 'b.example', notAfter: new Date(2_000_000_000_000) });
    m.configure({ certificates: ['b.example'] });
    const exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_certificate_expiry_timestamp_seconds', { name: 'a.example' }), undefined);
    assert.equal(sampleValue(exp, 'my_server_certificate_expiry_timestamp_seconds', { name: 'b.example' }), 2_000_000_000);
  });
});

test('malformed events are ignored without throwing into the publisher', async () => {
  await withMetrics(async (_m, scrape) => {
    const channel = diagnosticsChannel.channel('my-server:http:request');
    channel.publish(null);
    channel.publish({ site: 42, method: null, status: 'x', durationMs: -1 });
    diagnosticsChannel.channel('my-server:tls:handshake').publish({ result: 'maybe' });
    diagnosticsChannel.channel('my-server:cert:loaded').publish({ name: 'a.example', notAfter: 'tomorrow' });
    diagnosticsChannel.channel('my-server:upstream:healthy').publish({});
    // A throwing subscriber would surface as an uncaught exception on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    const exp = await scrape();
    assert.equal(sampleValue(exp, 'my_server_requests_total', { site: 'other', method: 'OTHER', code: 'other' }), 1);
    assert.equal(sampleValue(exp, 'my_server_request_duration_seconds_count', { site: 'other' }), undefined);
    assert.ok(!exp.samples.some((s) => s.name === 'my_server_tls_handshakes_total'));
    assert.ok(!exp.samples.some((s) => s.name === 'my_server_certificate_expiry_timestamp_seconds'));
    assert.ok(!exp.samples.some((s) => s.name === 'my_server_upstream_healthy'));
  });
});

test('instances keep separate registries, and an unsubscribed one counts nothing', async () => {
  const a = new Metrics({ processMetrics: false });
  const b = new Metrics({ processMetrics: false });
  try {
    a.subscribe();
    a.subscribe(); // idempotent: one event must still count once
    publish('my-server:http:request', { site: 's', method: 'GET', status: 200, durationMs: 1 });
    a.unsubscribe();
    publish('my-server:http:request', { site: 's', method: 'GET', status: 200, durationMs: 1 });
    const expA = parseExposition(await a.text());
    const expB = parseExposition(await b.text());
    assert.equal(sampleValue(expA, 'my_server_requests_total', { site: 's', method: 'GET', code: '200' }), 1);
    assert.equal(sampleValue(expB, 'my_server_requests_total', { site: 's', method: 'GET', code: '200' }), undefined);
    assert.notEqual(a.registry, b.registry);
  } finally {
    a.close();
    b.close();
  }
  assert.equal(hasSubscribers('my-server:http:request'), false, 'close unsubscribes');
});
